// A solution's offline metrics (GetSolutionMetrics) for each ACTIVE version: one bar chart per metric with the
// versions side by side, and the same numbers as a table (the accessible reading of the charts).
import { Link as RouterLink, useParams } from "react-router-dom";
import { Box, Grid, Link, Paper, Stack, Typography } from "@mui/material";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useClients } from "../App";
import { ErrorLine, ResourceTable, usePoll } from "../components";

interface VersionMetrics {
  version: string;
  created: Date | undefined;
  metrics: Record<string, number>;
  /** The final training's loss per epoch (Tailor's console API); empty for recipes without epochs. */
  losses: { epoch: number; loss: number }[];
}

const COLOURS = ["#1f5f99", "#c2185b", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f"];

const shortId = (arn: string | undefined) => (arn ?? "").split("/").pop() ?? "";

export default function Metrics() {
  const { solutionArn = "" } = useParams();
  const { personalize, tailor } = useClients();
  const loaded = usePoll(async () => {
    const solution = (await personalize.describeSolution({ solutionArn })).solution;
    const versions = (await personalize.listSolutionVersions({ solutionArn, maxResults: 100 })).solutionVersions ?? [];
    const active = versions.filter((v) => v.status === "ACTIVE");
    const rows: VersionMetrics[] = await Promise.all(
      active.map(async (v) => ({
        version: shortId(v.solutionVersionArn),
        created: v.creationDateTime,
        metrics: (await personalize.getSolutionMetrics({ solutionVersionArn: v.solutionVersionArn })).metrics ?? {},
        losses: (
          (await tailor.trainingProgress(v.solutionVersionArn ?? "").catch(() => undefined))?.lossHistory ?? []
        ).filter((h) => h.stage === "training"),
      })),
    );
    rows.sort((a, b) => (a.created?.getTime() ?? 0) - (b.created?.getTime() ?? 0));
    return { solution, rows, training: versions.length - active.length };
  }, [solutionArn]);
  const rows = loaded.data?.rows ?? [];
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  const groupArn = loaded.data?.solution?.datasetGroupArn;
  const epochs = Math.max(0, ...rows.map((r) => r.losses.length));
  const lossCurve = Array.from({ length: epochs }, (_, i) => {
    const point: Record<string, number> = { epoch: i + 1 };
    for (const r of rows) if (r.losses[i]) point[r.version] = r.losses[i].loss;
    return point;
  });
  return (
    <Stack spacing={3}>
      <Box>
        {groupArn && (
          <Link component={RouterLink} to={`/groups/${encodeURIComponent(groupArn)}`}>
            Back to the dataset group
          </Link>
        )}
        <Typography variant="h4" component="h1">
          Metrics of {loaded.data?.solution?.name ?? shortId(solutionArn)}
        </Typography>
        <Typography variant="body2">
          {rows.length} active version(s){loaded.data?.training ? `, ${loaded.data.training} other` : ""}; oldest first.
        </Typography>
      </Box>
      <ErrorLine error={loaded.error} />
      <ResourceTable<VersionMetrics>
        caption="Metrics by solution version"
        rows={loaded.data ? rows : undefined}
        rowKey={(r) => r.version}
        empty="No active solution version yet."
        columns={[
          { header: "Version", cell: (r) => r.version },
          ...names.map((n) => ({ header: n, cell: (r: VersionMetrics) => r.metrics[n]?.toFixed(4) ?? "" })),
        ]}
      />
      {epochs > 0 && (
        <Paper variant="outlined" sx={{ p: 1.5 }} component="figure" aria-label="Training loss by epoch">
          <Typography variant="subtitle1" component="figcaption">
            Training loss by epoch
          </Typography>
          <ResponsiveContainer width="100%" height={240}>
            <LineChart data={lossCurve}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="epoch" tick={{ fontSize: 11 }} />
              <YAxis tick={{ fontSize: 11 }} domain={["auto", "auto"]} />
              <Tooltip />
              <Legend />
              {rows.map((r, i) => (
                <Line key={r.version} dataKey={r.version} stroke={COLOURS[i % COLOURS.length]} isAnimationActive={false} />
              ))}
            </LineChart>
          </ResponsiveContainer>
        </Paper>
      )}
      <Grid container spacing={2}>
        {names.map((name) => (
          <Grid key={name} size={{ xs: 12, md: 6, lg: 4 }}>
            <Paper variant="outlined" sx={{ p: 1.5 }} component="figure" aria-label={`${name} by version`}>
              <Typography variant="subtitle1" component="figcaption">
                {name}
              </Typography>
              <ResponsiveContainer width="100%" height={200}>
                <BarChart data={rows.map((r) => ({ version: r.version, value: r.metrics[name] ?? 0 }))}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="version" tick={{ fontSize: 11 }} />
                  <YAxis tick={{ fontSize: 11 }} />
                  <Tooltip />
                  <Legend />
                  <Bar dataKey="value" name={name} fill="#1f5f99" isAnimationActive={false} />
                </BarChart>
              </ResponsiveContainer>
            </Paper>
          </Grid>
        ))}
      </Grid>
    </Stack>
  );
}
