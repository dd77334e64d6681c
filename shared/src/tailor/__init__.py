"""Generated protobuf packages (DO NOT EDIT; scripts/codegen.sh)."""
