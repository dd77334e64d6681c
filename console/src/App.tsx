import { createContext, lazy, Suspense, useContext, useEffect, useState } from "react";
import { Link as RouterLink, Navigate, Route, Routes } from "react-router-dom";
import { AppBar, Box, Button, Container, Toolbar, Typography } from "@mui/material";
import type { Clients } from "./aws";
import { loadSession, saveSession, type Session } from "./session";
import { SignIn } from "./pages/SignIn";

// The first paint carries React, MUI and the sign-in page only; the AWS SDK (./aws) and every other page are
// chunks loaded after it (ADR 0029 §5).
const DatasetGroups = lazy(() => import("./pages/DatasetGroups"));
const GroupDetail = lazy(() => import("./pages/GroupDetail"));
const TestRecommendations = lazy(() => import("./pages/TestRecommendations"));
const Metrics = lazy(() => import("./pages/Metrics"));
const Live = lazy(() => import("./pages/Live"));

const ClientsContext = createContext<Clients | null>(null);

export function useClients(): Clients {
  const clients = useContext(ClientsContext);
  if (!clients) throw new Error("not signed in");
  return clients;
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [clients, setClients] = useState<Clients | null>(null);
  useEffect(() => {
    let current = true;
    setClients(null);
    import("./aws").then(({ makeClients }) => current && session && setClients(makeClients(session)));
    return () => {
      current = false;
    };
  }, [session]);
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
              <Button color="inherit" component={RouterLink} to="/live">
                Live
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
        {!session ? (
          <SignIn onSignedIn={signIn} />
        ) : !clients ? (
          <p>Loading…</p>
        ) : (
          <ClientsContext.Provider value={clients}>
            <Suspense fallback={<p>Loading…</p>}>
              <Routes>
                <Route path="/" element={<DatasetGroups />} />
                <Route path="/groups/:groupArn" element={<GroupDetail />} />
                <Route path="/test" element={<TestRecommendations />} />
                <Route path="/solutions/:solutionArn/metrics" element={<Metrics />} />
                <Route path="/live" element={<Live />} />
                <Route path="*" element={<Navigate to="/" replace />} />
              </Routes>
            </Suspense>
          </ClientsContext.Provider>
        )}
      </Container>
    </>
  );
}
