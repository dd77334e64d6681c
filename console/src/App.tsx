import { createContext, lazy, Suspense, useContext, useMemo, useState } from "react";
import { Link as RouterLink, Navigate, Route, Routes } from "react-router-dom";
import { AppBar, Box, Button, Container, Toolbar, Typography } from "@mui/material";
import { loadSession, makeClients, saveSession, type Clients, type Session } from "./aws";
import { SignIn } from "./pages/SignIn";
import { DatasetGroups } from "./pages/DatasetGroups";
import { GroupDetail } from "./pages/GroupDetail";

// Later pages load on demand so the first paint carries only the sign-in and lists (charts are the heavy part).
const TestRecommendations = lazy(() => import("./pages/TestRecommendations"));
const Metrics = lazy(() => import("./pages/Metrics"));

const ClientsContext = createContext<Clients | null>(null);

export function useClients(): Clients {
  const clients = useContext(ClientsContext);
  if (!clients) throw new Error("not signed in");
  return clients;
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const clients = useMemo(() => (session ? makeClients(session) : null), [session]);
  const signIn = (s: Session | null) => {
    saveSession(s);
    setSession(s);
  };
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <AppBar position="static" component="header">
        <Toolbar component="nav" aria-label="Main">
          <Typography variant="h6" component="span" sx={{ mr: 3 }}>
            Tailor console
          </Typography>
          {session && (
            <>
              <Button color="inherit" component={RouterLink} to="/">
                Dataset groups
              </Button>
              <Button color="inherit" component={RouterLink} to="/test">
                Test recommendations
              </Button>
              <Box sx={{ flexGrow: 1 }} />
              <Typography variant="body2" component="span" sx={{ mr: 2 }} aria-label="Signed in as">
                {session.accessKeyId}
              </Typography>
              <Button color="inherit" onClick={() => signIn(null)}>
                Sign out
              </Button>
            </>
          )}
        </Toolbar>
      </AppBar>
      <Container component="main" id="main" tabIndex={-1} maxWidth="xl" sx={{ py: 3 }}>
        {!clients ? (
          <SignIn onSignedIn={signIn} />
        ) : (
          <ClientsContext.Provider value={clients}>
            <Suspense fallback={<p>Loading…</p>}>
              <Routes>
                <Route path="/" element={<DatasetGroups />} />
                <Route path="/groups/:groupArn" element={<GroupDetail />} />
                <Route path="/test" element={<TestRecommendations />} />
                <Route path="/solutions/:solutionArn/metrics" element={<Metrics />} />
                <Route path="*" element={<Navigate to="/" replace />} />
              </Routes>
            </Suspense>
          </ClientsContext.Provider>
        )}
      </Container>
    </>
  );
}
