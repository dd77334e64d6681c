"""Tailor runtime: GetRecommendations, GetPersonalizedRanking, GetActionRecommendations over gRPC."""

import os

# One BLAS thread per process, set before numpy loads: a request's vector products are small, and OpenBLAS's
# spinning threads cost more than they save when every core already serves requests (rescoring candidates was
# 5x slower with them on a busy 2-core machine; ADR 0019).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
