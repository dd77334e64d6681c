import { useState, type FormEvent } from "react";
import { Alert, Box, Button, Paper, Stack, TextField, Typography } from "@mui/material";
import { errorText, type Session } from "../session";

/** An access key id + secret (the development identity's: `tailor local credentials`), checked with one call. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [accessKeyId, setKey] = useState("");
  const [secretAccessKey, setSecret] = useState("");
  const [region, setRegion] = useState("us-east-1");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const session = { accessKeyId: accessKeyId.trim(), secretAccessKey, region: region.trim() };
    setBusy(true);
    setError(undefined);
    import("../aws")
      .then(({ makeClients }) => makeClients(session).personalize.listDatasetGroups({ maxResults: 1 }))
      .then(() => onSignedIn(session))
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => setBusy(false));
  };
  return (
    <Paper variant="outlined" sx={{ p: 3, maxWidth: 480, mx: "auto" }}>
      <Typography variant="h4" component="h1" gutterBottom>
        Sign in
      </Typography>
      <Typography variant="body2" gutterBottom>
        Use an access key of this Tailor deployment (locally: <code>uv run tailor local credentials</code>). It is
        kept in this tab's session storage only.
      </Typography>
      <Box component="form" onSubmit={submit} aria-label="Sign in">
        <Stack spacing={2} sx={{ mt: 2 }}>
          <TextField label="Access key ID" value={accessKeyId} onChange={(e) => setKey(e.target.value)} required autoFocus />
          <TextField
            label="Secret access key"
            type="password"
            value={secretAccessKey}
            onChange={(e) => setSecret(e.target.value)}
            required
            autoComplete="current-password"
          />
          <TextField label="Region" value={region} onChange={(e) => setRegion(e.target.value)} required />
          <Button type="submit" variant="contained" disabled={busy}>
            Sign in
          </Button>
          {error && (
            <Alert severity="error" role="alert">
              {error}
            </Alert>
          )}
        </Stack>
      </Box>
    </Paper>
  );
}
