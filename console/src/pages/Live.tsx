// Live views from Tailor's console API (docs/specs/console-api.md): a user's recent events, a dataset group's
// trending items, and a metric attribution's running values sampled into a time series while the page is open.
import { useEffect, useState } from "react";
import { Grid, Paper, Stack, TextField, Typography } from "@mui/material";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useClients } from "../App";
import { ErrorLine, ResourceTable, SelectField, usePoll } from "../components";
import type { AttributionValue, RecentEvent, TrendingItem } from "../tailorApi";

const WINDOWS = [1800, 3600, 7200, 10800, 86400];
const COLOURS = ["#1f5f99", "#c2185b", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f"];
const time = (epochSeconds: number) => new Date(epochSeconds * 1000).toLocaleString();

export default function Live() {
  const { personalize } = useClients();
  const groups = usePoll(async () => (await personalize.listDatasetGroups({ maxResults: 100 })).datasetGroups ?? [], [personalize]);
  const [group, setGroup] = useState("");
  const chosen = group || groups.data?.[0]?.datasetGroupArn || "";
  return (
    <Stack spacing={3}>
      <Typography variant="h4" component="h1">
        Live
      </Typography>
      <ErrorLine error={groups.error} />
      <SelectField
        label="Dataset group"
        value={chosen}
        onChange={setGroup}
        options={(groups.data ?? []).map((g) => ({ value: g.datasetGroupArn ?? "", label: g.name ?? "" }))}
      />
      {chosen && (
        <>
          <RecentEvents groupArn={chosen} />
          <Trends groupArn={chosen} />
          <Attribution groupArn={chosen} />
        </>
      )}
    </Stack>
  );
}

function Section(props: { title: string; children: React.ReactNode }) {
  const id = props.title.replace(/\W+/g, "-").toLowerCase();
  return (
    <Paper variant="outlined" sx={{ p: 2 }} component="section" aria-labelledby={id}>
      <Typography variant="h5" component="h2" id={id} gutterBottom>
        {props.title}
      </Typography>
      <Stack spacing={1.5}>{props.children}</Stack>
    </Paper>
  );
}

function RecentEvents({ groupArn }: { groupArn: string }) {
  const { tailor } = useClients();
  const [user, setUser] = useState("");
  const events = usePoll<RecentEvent[] | undefined>(
    async () => (user.trim() ? tailor.recentEvents(groupArn, user.trim(), 50) : undefined),
    [groupArn, user],
    () => true,
  );
  return (
    <Section title="Recent events of a user">
      <TextField label="User ID" value={user} onChange={(e) => setUser(e.target.value)} sx={{ maxWidth: 360 }} />
      <ErrorLine error={events.error} />
      {user.trim() && (
        <ResourceTable<RecentEvent>
          caption={`Recent events of ${user.trim()}, newest first`}
          rows={events.data}
          rowKey={(e) => `${e.sentAt}-${e.itemId}-${e.eventType}`}
          empty="No events for this user."
          columns={[
            { header: "Sent at", cell: (e) => time(e.sentAt) },
            { header: "Item ID", cell: (e) => e.itemId },
            { header: "Event type", cell: (e) => e.eventType },
            { header: "Event value", cell: (e) => e.eventValue ?? "" },
          ]}
        />
      )}
    </Section>
  );
}

function Trends({ groupArn }: { groupArn: string }) {
  const { tailor } = useClients();
  const [windowSize, setWindow] = useState("7200");
  const trends = usePoll(() => tailor.trendingItems(groupArn, Number(windowSize), 20), [groupArn, windowSize], () => true, 5000);
  const items = trends.data?.items;
  return (
    <Section title="Trending items">
      <SelectField
        label="Trend window"
        value={windowSize}
        onChange={setWindow}
        options={WINDOWS.map((w) => ({ value: String(w), label: `${w / 60} minutes` }))}
      />
      <ErrorLine error={trends.error} />
      <Typography variant="body2">
        {trends.data?.windowStartDateTime
          ? `Window starting ${time(trends.data.windowStartDateTime)}, against the window before it.`
          : "No complete trend window yet."}
      </Typography>
      {items && items.length > 0 && (
        <Paper variant="outlined" component="figure" aria-label="Interactions of trending items, this window and the previous" sx={{ m: 0, p: 1 }}>
          <ResponsiveContainer width="100%" height={260}>
            <BarChart data={items}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="itemId" tick={{ fontSize: 11 }} />
              <YAxis tick={{ fontSize: 11 }} />
              <Tooltip />
              <Legend />
              <Bar dataKey="previousInteractions" name="previous window" fill="#9e9e9e" isAnimationActive={false} />
              <Bar dataKey="interactions" name="this window" fill="#1f5f99" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </Paper>
      )}
      <ResourceTable<TrendingItem>
        caption="Trending items"
        rows={items}
        rowKey={(i) => i.itemId}
        empty="No trending items."
        columns={[
          { header: "Item ID", cell: (i) => i.itemId },
          { header: "Interactions", cell: (i) => i.interactions },
          { header: "Previous window", cell: (i) => i.previousInteractions },
          { header: "Growth", cell: (i) => i.growth.toFixed(3) },
        ]}
      />
    </Section>
  );
}

type Sample = { at: number } & Record<string, number>;
const seriesKey = (v: AttributionValue) => `${v.metricName} (${v.eventAttributionSource})`;

function Attribution({ groupArn }: { groupArn: string }) {
  const { personalize, tailor } = useClients();
  const list = usePoll(
    async () => (await personalize.listMetricAttributions({ datasetGroupArn: groupArn })).metricAttributions ?? [],
    [groupArn],
  );
  const [arn, setArn] = useState("");
  const chosen = arn || list.data?.[0]?.metricAttributionArn || "";
  const [samples, setSamples] = useState<Sample[]>([]);
  useEffect(() => setSamples([]), [chosen]);
  const values = usePoll(
    async () => (chosen ? tailor.attributionValues(chosen) : undefined),
    [chosen],
    () => true,
    5000,
  );
  useEffect(() => {
    const read = values.data;
    if (!read) return;
    const sample: Sample = { at: read.readDateTime } as Sample;
    for (const v of read.values) sample[seriesKey(v)] = v.value;
    setSamples((prev) => (prev.at(-1)?.at === sample.at ? prev : [...prev.slice(-359), sample]));
  }, [values.data]);
  const keys = [...new Set(values.data?.values.map(seriesKey) ?? [])];
  return (
    <Section title="Metric attribution">
      <ErrorLine error={list.error ?? values.error} />
      {list.data && list.data.length === 0 ? (
        <Typography variant="body2">This dataset group has no metric attribution.</Typography>
      ) : (
        <>
          <SelectField
            label="Metric attribution"
            value={chosen}
            onChange={setArn}
            options={(list.data ?? []).map((m) => ({ value: m.metricAttributionArn ?? "", label: m.name ?? "" }))}
          />
          <Grid container spacing={2}>
            <Grid size={{ xs: 12, lg: 7 }}>
              <Paper variant="outlined" component="figure" aria-label="Attributed metric values over time" sx={{ m: 0, p: 1 }}>
                <ResponsiveContainer width="100%" height={260}>
                  <LineChart data={samples}>
                    <CartesianGrid strokeDasharray="3 3" />
                    <XAxis dataKey="at" tickFormatter={(t: number) => new Date(t * 1000).toLocaleTimeString()} tick={{ fontSize: 11 }} />
                    <YAxis tick={{ fontSize: 11 }} />
                    <Tooltip labelFormatter={(t) => time(Number(t))} />
                    <Legend />
                    {keys.map((k, i) => (
                      <Line key={k} dataKey={k} stroke={COLOURS[i % COLOURS.length]} dot={false} isAnimationActive={false} />
                    ))}
                  </LineChart>
                </ResponsiveContainer>
              </Paper>
            </Grid>
            <Grid size={{ xs: 12, lg: 5 }}>
              <ResourceTable<AttributionValue>
                caption="Current attributed values"
                rows={values.data?.values}
                rowKey={seriesKey}
                empty="No events counted yet."
                columns={[
                  { header: "Metric", cell: (v) => v.metricName },
                  { header: "Source", cell: (v) => v.eventAttributionSource },
                  { header: "Value", cell: (v) => v.value },
                ]}
              />
            </Grid>
          </Grid>
        </>
      )}
    </Section>
  );
}
