// One dataset group: every resource kind in it with status and details, refreshed while anything is moving,
// and the demo flow's create forms (schema + dataset, import job, solution, solution version, campaign, ...).
import { useState } from "react";
import { Link as RouterLink, useParams } from "react-router-dom";
import { Box, Button, Checkbox, FormControlLabel, LinearProgress, Link, Stack, TextField, Typography } from "@mui/material";
import type {
  CampaignSummary,
  DatasetImportJobSummary,
  DatasetSummary,
  EventTrackerSummary,
  FilterSummary,
  MetricAttributionSummary,
  RecommenderSummary,
  SolutionSummary,
  SolutionVersionSummary,
} from "@aws-sdk/client-personalize";
import { useClients } from "../App";
import type { ImportProgress, TailorApi, TrainingProgress } from "../tailorApi";
import {
  CreateForm,
  DetailsButton,
  ErrorLine,
  ResourceTable,
  SelectField,
  StatusChip,
  formatDate,
  moving,
  usePoll,
} from "../components";

/** Schema templates by dataset type: what Personalize's console pre-fills (the minimal required fields). */
const SCHEMAS: Record<string, object> = {
  Interactions: {
    type: "record",
    name: "Interactions",
    namespace: "com.amazonaws.personalize.schema",
    fields: [
      { name: "USER_ID", type: "string" },
      { name: "ITEM_ID", type: "string" },
      { name: "EVENT_TYPE", type: "string" },
      { name: "TIMESTAMP", type: "long" },
    ],
    version: "1.0",
  },
  Items: {
    type: "record",
    name: "Items",
    namespace: "com.amazonaws.personalize.schema",
    fields: [
      { name: "ITEM_ID", type: "string" },
      { name: "GENRES", type: ["null", "string"], categorical: true },
    ],
    version: "1.0",
  },
  Users: {
    type: "record",
    name: "Users",
    namespace: "com.amazonaws.personalize.schema",
    fields: [
      { name: "USER_ID", type: "string" },
      { name: "SEGMENT", type: ["null", "string"], categorical: true },
    ],
    version: "1.0",
  },
};

export const DEFAULT_ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole";

interface GroupState {
  datasets: DatasetSummary[];
  imports: (DatasetImportJobSummary & { datasetArn: string; progress?: ImportProgress })[];
  solutions: SolutionSummary[];
  versions: (SolutionVersionSummary & { solutionArn: string; progress?: TrainingProgress })[];
  campaigns: CampaignSummary[];
  filters: FilterSummary[];
  recommenders: RecommenderSummary[];
  trackers: EventTrackerSummary[];
  attributions: MetricAttributionSummary[];
}

const shortId = (arn: string | undefined) => (arn ?? "").split("/").pop() ?? "";

/** Live progress (Tailor's console API) of what is still moving; a failed read shows no progress, not an error. */
async function withProgress<R extends { status?: string }, P>(
  rows: R[],
  read: (row: R) => Promise<P>,
): Promise<(R & { progress?: P })[]> {
  return Promise.all(
    rows.map(async (row) => (moving(row.status) ? { ...row, progress: await read(row).catch(() => undefined) } : row)),
  );
}

function TrainingCell({ progress }: { progress?: TrainingProgress }) {
  if (!progress || progress.epoch === undefined) return null;
  const value = progress.maxEpochs ? (100 * progress.epoch) / progress.maxEpochs : undefined;
  const text = `${progress.stage ?? "training"} epoch ${progress.epoch}${progress.maxEpochs ? `/${progress.maxEpochs}` : ""}${
    progress.loss !== undefined ? `, loss ${progress.loss.toFixed(3)}` : ""
  }`;
  return (
    <Box sx={{ minWidth: 160 }}>
      {value !== undefined && <LinearProgress variant="determinate" value={value} aria-label={text} />}
      <Typography variant="caption">{text}</Typography>
    </Box>
  );
}

function ImportCell({ progress }: { progress?: ImportProgress }) {
  if (!progress || progress.percentComplete === undefined) return null;
  const text = `${progress.percentComplete.toFixed(0)} %${
    progress.recordsProcessed !== undefined ? `, ${progress.recordsProcessed.toLocaleString()} records` : ""
  }`;
  return (
    <Box sx={{ minWidth: 140 }}>
      <LinearProgress variant="determinate" value={progress.percentComplete} aria-label={`Import ${text}`} />
      <Typography variant="caption">{text}</Typography>
    </Box>
  );
}

function progressReaders(tailor: TailorApi) {
  return {
    imports: (j: DatasetImportJobSummary) => tailor.importProgress(j.datasetImportJobArn ?? ""),
    versions: (v: SolutionVersionSummary) => tailor.trainingProgress(v.solutionVersionArn ?? ""),
  };
}

export default function GroupDetail() {
  const { groupArn = "" } = useParams();
  const { personalize, tailor } = useClients();
  const group = usePoll(() => personalize.describeDatasetGroup({ datasetGroupArn: groupArn }), [groupArn]);
  const state = usePoll<GroupState>(
    async () => {
      const q = { datasetGroupArn: groupArn, maxResults: 100 };
      const [datasets, solutions, filters, recommenders, trackers, attributions] = await Promise.all([
        personalize.listDatasets(q).then((r) => r.datasets ?? []),
        personalize.listSolutions(q).then((r) => r.solutions ?? []),
        personalize.listFilters(q).then((r) => r.Filters ?? []),
        personalize.listRecommenders(q).then((r) => r.recommenders ?? []),
        personalize.listEventTrackers(q).then((r) => r.eventTrackers ?? []),
        personalize.listMetricAttributions(q).then((r) => r.metricAttributions ?? []),
      ]);
      const [imports, versions, campaigns] = await Promise.all([
        Promise.all(
          datasets.map((d) =>
            personalize
              .listDatasetImportJobs({ datasetArn: d.datasetArn, maxResults: 100 })
              .then((r) => (r.datasetImportJobs ?? []).map((j) => ({ ...j, datasetArn: d.datasetArn ?? "" }))),
          ),
        ).then((all) => all.flat()),
        Promise.all(
          solutions.map((s) =>
            personalize
              .listSolutionVersions({ solutionArn: s.solutionArn, maxResults: 100 })
              .then((r) => (r.solutionVersions ?? []).map((v) => ({ ...v, solutionArn: s.solutionArn ?? "" }))),
          ),
        ).then((all) => all.flat()),
        Promise.all(
          solutions.map((s) =>
            personalize.listCampaigns({ solutionArn: s.solutionArn, maxResults: 100 }).then((r) => r.campaigns ?? []),
          ),
        ).then((all) => all.flat()),
      ]);
      const read = progressReaders(tailor);
      return {
        datasets,
        imports: await withProgress(imports, read.imports),
        solutions,
        versions: await withProgress(versions, read.versions),
        campaigns,
        filters,
        recommenders,
        trackers,
        attributions,
      };
    },
    [groupArn],
    (s) =>
      [s.datasets, s.imports, s.solutions, s.versions, s.campaigns, s.filters, s.recommenders, s.trackers].some(
        (rows) => rows.some((r) => moving(r.status)),
      ),
  );
  const s = state.data;
  const reload = state.reload;
  const name = group.data?.datasetGroup?.name ?? shortId(groupArn);

  return (
    <Stack spacing={3}>
      <Box>
        <Link component={RouterLink} to="/">
          Dataset groups
        </Link>
        <Typography variant="h4" component="h1">
          {name} <StatusChip status={group.data?.datasetGroup?.status} />
        </Typography>
        <Typography variant="body2" sx={{ wordBreak: "break-all" }}>
          {groupArn}
        </Typography>
      </Box>
      <ErrorLine error={group.error ?? state.error} />

      <Section title="Datasets">
        <ResourceTable<DatasetSummary>
          caption="Datasets"
          rows={s?.datasets}
          rowKey={(d) => d.datasetArn ?? ""}
          columns={[
            { header: "Name", cell: (d) => d.name },
            { header: "Type", cell: (d) => d.datasetType },
            { header: "Status", cell: (d) => <StatusChip status={d.status} /> },
            { header: "Last updated", cell: (d) => formatDate(d.lastUpdatedDateTime) },
            {
              header: "Details",
              cell: (d) => (
                <DetailsButton
                  label={`Dataset ${d.name}`}
                  describe={() => personalize.describeDataset({ datasetArn: d.datasetArn })}
                />
              ),
            },
          ]}
        />
        <CreateDataset groupArn={groupArn} onCreated={reload} />
      </Section>

      <Section title="Import jobs">
        <ResourceTable<GroupState["imports"][number]>
          caption="Dataset import jobs"
          rows={s?.imports}
          rowKey={(j) => j.datasetImportJobArn ?? ""}
          columns={[
            { header: "Job name", cell: (j) => j.jobName },
            { header: "Dataset", cell: (j) => shortId(j.datasetArn) },
            { header: "Mode", cell: (j) => j.importMode },
            { header: "Status", cell: (j) => <StatusChip status={j.status} /> },
            { header: "Progress", cell: (j) => <ImportCell progress={j.progress} /> },
            { header: "Failure", cell: (j) => j.failureReason ?? "" },
            { header: "Created", cell: (j) => formatDate(j.creationDateTime) },
            {
              header: "Details",
              cell: (j) => (
                <DetailsButton
                  label={`Import job ${j.jobName}`}
                  describe={() => personalize.describeDatasetImportJob({ datasetImportJobArn: j.datasetImportJobArn })}
                />
              ),
            },
          ]}
        />
        <CreateImportJob datasets={s?.datasets ?? []} onCreated={reload} />
      </Section>

      <Section title="Solutions">
        <ResourceTable<SolutionSummary>
          caption="Solutions"
          rows={s?.solutions}
          rowKey={(x) => x.solutionArn ?? ""}
          columns={[
            { header: "Name", cell: (x) => x.name },
            { header: "Recipe", cell: (x) => shortId(x.recipeArn) },
            { header: "Status", cell: (x) => <StatusChip status={x.status} /> },
            {
              header: "Actions",
              cell: (x) => (
                <Stack direction="row" spacing={1}>
                  <TrainButton solutionArn={x.solutionArn ?? ""} name={x.name ?? ""} onCreated={reload} />
                  <Button
                    size="small"
                    component={RouterLink}
                    to={`/solutions/${encodeURIComponent(x.solutionArn ?? "")}/metrics`}
                  >
                    Metrics
                  </Button>
                  <DetailsButton
                    label={`Solution ${x.name}`}
                    describe={() => personalize.describeSolution({ solutionArn: x.solutionArn })}
                  />
                </Stack>
              ),
            },
          ]}
        />
        <CreateSolution groupArn={groupArn} onCreated={reload} />
      </Section>

      <Section title="Solution versions">
        <ResourceTable<GroupState["versions"][number]>
          caption="Solution versions"
          rows={s?.versions}
          rowKey={(v) => v.solutionVersionArn ?? ""}
          columns={[
            { header: "Version", cell: (v) => shortId(v.solutionVersionArn) },
            { header: "Solution", cell: (v) => shortId(v.solutionArn) },
            { header: "Training mode", cell: (v) => v.trainingMode },
            { header: "Status", cell: (v) => <StatusChip status={v.status} /> },
            { header: "Training", cell: (v) => <TrainingCell progress={v.progress} /> },
            { header: "Failure", cell: (v) => v.failureReason ?? "" },
            { header: "Created", cell: (v) => formatDate(v.creationDateTime) },
            {
              header: "Details",
              cell: (v) => (
                <DetailsButton
                  label={`Solution version ${shortId(v.solutionVersionArn)}`}
                  describe={() => personalize.describeSolutionVersion({ solutionVersionArn: v.solutionVersionArn })}
                />
              ),
            },
          ]}
        />
      </Section>

      <Section title="Campaigns">
        <ResourceTable<CampaignSummary>
          caption="Campaigns"
          rows={s?.campaigns}
          rowKey={(c) => c.campaignArn ?? ""}
          columns={[
            { header: "Name", cell: (c) => c.name },
            { header: "Status", cell: (c) => <StatusChip status={c.status} /> },
            { header: "Failure", cell: (c) => c.failureReason ?? "" },
            { header: "Last updated", cell: (c) => formatDate(c.lastUpdatedDateTime) },
            {
              header: "Actions",
              cell: (c) => (
                <Stack direction="row" spacing={1}>
                  <Button size="small" component={RouterLink} to={`/test?campaign=${encodeURIComponent(c.campaignArn ?? "")}`}>
                    Test
                  </Button>
                  <DetailsButton
                    label={`Campaign ${c.name}`}
                    describe={() => personalize.describeCampaign({ campaignArn: c.campaignArn })}
                  />
                </Stack>
              ),
            },
          ]}
        />
        <CreateCampaign versions={s?.versions ?? []} onCreated={reload} />
      </Section>

      <Section title="Filters">
        <ResourceTable<FilterSummary>
          caption="Filters"
          rows={s?.filters}
          rowKey={(f) => f.filterArn ?? ""}
          columns={[
            { header: "Name", cell: (f) => f.name },
            { header: "Status", cell: (f) => <StatusChip status={f.status} /> },
            {
              header: "Details",
              cell: (f) => (
                <DetailsButton label={`Filter ${f.name}`} describe={() => personalize.describeFilter({ filterArn: f.filterArn })} />
              ),
            },
          ]}
        />
        <CreateFilter groupArn={groupArn} onCreated={reload} />
      </Section>

      <Section title="Recommenders">
        <ResourceTable<RecommenderSummary>
          caption="Recommenders"
          rows={s?.recommenders}
          rowKey={(r) => r.recommenderArn ?? ""}
          columns={[
            { header: "Name", cell: (r) => r.name },
            { header: "Recipe", cell: (r) => shortId(r.recipeArn) },
            { header: "Status", cell: (r) => <StatusChip status={r.status} /> },
            {
              header: "Details",
              cell: (r) => (
                <DetailsButton
                  label={`Recommender ${r.name}`}
                  describe={() => personalize.describeRecommender({ recommenderArn: r.recommenderArn })}
                />
              ),
            },
          ]}
        />
      </Section>

      <Section title="Event trackers">
        <ResourceTable<EventTrackerSummary>
          caption="Event trackers"
          rows={s?.trackers}
          rowKey={(t) => t.eventTrackerArn ?? ""}
          columns={[
            { header: "Name", cell: (t) => t.name },
            { header: "Status", cell: (t) => <StatusChip status={t.status} /> },
            {
              header: "Details",
              cell: (t) => (
                <DetailsButton
                  label={`Event tracker ${t.name}`}
                  describe={() => personalize.describeEventTracker({ eventTrackerArn: t.eventTrackerArn })}
                />
              ),
            },
          ]}
        />
        <CreateTracker groupArn={groupArn} onCreated={reload} />
      </Section>

      <Section title="Metric attributions">
        <ResourceTable<MetricAttributionSummary>
          caption="Metric attributions"
          rows={s?.attributions}
          rowKey={(m) => m.metricAttributionArn ?? ""}
          columns={[
            { header: "Name", cell: (m) => m.name },
            { header: "Status", cell: (m) => <StatusChip status={m.status} /> },
            {
              header: "Details",
              cell: (m) => (
                <DetailsButton
                  label={`Metric attribution ${m.name}`}
                  describe={() => personalize.describeMetricAttribution({ metricAttributionArn: m.metricAttributionArn })}
                />
              ),
            },
          ]}
        />
      </Section>
    </Stack>
  );
}

function Section(props: { title: string; children: React.ReactNode }) {
  const id = props.title.replace(/\W+/g, "-").toLowerCase();
  return (
    <Stack component="section" spacing={1.5} aria-labelledby={id}>
      <Typography variant="h5" component="h2" id={id}>
        {props.title}
      </Typography>
      {props.children}
    </Stack>
  );
}

function CreateDataset({ groupArn, onCreated }: { groupArn: string; onCreated: () => void }) {
  const { personalize } = useClients();
  const [type, setType] = useState("Interactions");
  const [name, setName] = useState("");
  const [schemaName, setSchemaName] = useState("");
  const [schema, setSchema] = useState(JSON.stringify(SCHEMAS.Interactions, null, 2));
  return (
    <CreateForm
      title="Create schema and dataset"
      submitLabel="Create dataset"
      onSubmit={async () => {
        const { schemaArn } = await personalize.createSchema({ name: schemaName, schema });
        const out = await personalize.createDataset({
          name,
          schemaArn,
          datasetGroupArn: groupArn,
          datasetType: type,
        });
        onCreated();
        return `Created ${out.datasetArn}`;
      }}
    >
      <SelectField
        label="Dataset type"
        value={type}
        onChange={(t) => {
          setType(t);
          setSchema(JSON.stringify(SCHEMAS[t], null, 2));
        }}
        options={Object.keys(SCHEMAS).map((t) => ({ value: t, label: t }))}
      />
      <TextField label="Dataset name" value={name} onChange={(e) => setName(e.target.value)} required />
      <TextField label="Schema name" value={schemaName} onChange={(e) => setSchemaName(e.target.value)} required />
      <TextField
        label="Schema (Avro JSON)"
        value={schema}
        onChange={(e) => setSchema(e.target.value)}
        multiline
        minRows={6}
        required
        slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: "monospace", fontSize: 13 } } }}
      />
    </CreateForm>
  );
}

function CreateImportJob({ datasets, onCreated }: { datasets: DatasetSummary[]; onCreated: () => void }) {
  const { personalize } = useClients();
  const [datasetArn, setDataset] = useState("");
  const [jobName, setJobName] = useState("");
  const [location, setLocation] = useState("");
  const [roleArn, setRole] = useState(DEFAULT_ROLE);
  const [mode, setMode] = useState("FULL");
  const chosen = datasetArn || datasets[0]?.datasetArn || "";
  return (
    <CreateForm
      title="Create dataset import job"
      submitLabel="Start import"
      onSubmit={async () => {
        const out = await personalize.createDatasetImportJob({
          jobName,
          datasetArn: chosen,
          dataSource: { dataLocation: location },
          roleArn,
          importMode: mode as "FULL" | "INCREMENTAL",
        });
        onCreated();
        return `Started ${out.datasetImportJobArn}`;
      }}
    >
      <SelectField
        label="Dataset"
        value={chosen}
        onChange={setDataset}
        required
        options={datasets.map((d) => ({ value: d.datasetArn ?? "", label: `${d.name} (${d.datasetType})` }))}
      />
      <TextField label="Import job name" value={jobName} onChange={(e) => setJobName(e.target.value)} required />
      <TextField
        label="Data location (S3 path)"
        placeholder="s3://bucket/interactions.csv"
        value={location}
        onChange={(e) => setLocation(e.target.value)}
        required
      />
      <TextField label="IAM role ARN" value={roleArn} onChange={(e) => setRole(e.target.value)} />
      <SelectField
        label="Import mode"
        value={mode}
        onChange={setMode}
        options={[
          { value: "FULL", label: "Replace existing data (FULL)" },
          { value: "INCREMENTAL", label: "Add to existing data (INCREMENTAL)" },
        ]}
      />
    </CreateForm>
  );
}

function CreateSolution({ groupArn, onCreated }: { groupArn: string; onCreated: () => void }) {
  const { personalize } = useClients();
  const recipes = usePoll(async () => (await personalize.listRecipes({ maxResults: 100 })).recipes ?? [], [personalize]);
  const [name, setName] = useState("");
  const [recipeArn, setRecipe] = useState("arn:aws:personalize:::recipe/aws-user-personalization-v2");
  const [config, setConfig] = useState("");
  return (
    <CreateForm
      title="Create solution"
      submitLabel="Create solution"
      onSubmit={async () => {
        const out = await personalize.createSolution({
          name,
          recipeArn,
          datasetGroupArn: groupArn,
          ...(config.trim() ? { solutionConfig: JSON.parse(config) } : {}),
        });
        onCreated();
        return `Created ${out.solutionArn}`;
      }}
    >
      <TextField label="Solution name" value={name} onChange={(e) => setName(e.target.value)} required />
      <SelectField
        label="Recipe"
        value={recipeArn}
        onChange={setRecipe}
        options={(recipes.data ?? [{ recipeArn, name: shortId(recipeArn) }]).map((r) => ({
          value: r.recipeArn ?? "",
          label: r.name ?? "",
        }))}
      />
      <TextField
        label="Solution config (JSON, optional)"
        value={config}
        onChange={(e) => setConfig(e.target.value)}
        multiline
        minRows={2}
        placeholder='{"algorithmHyperParameters": {"hidden_dimension": "32"}}'
      />
    </CreateForm>
  );
}

function TrainButton(props: { solutionArn: string; name: string; onCreated: () => void }) {
  const { personalize } = useClients();
  const [error, setError] = useState<string>();
  return (
    <>
      <Button
        size="small"
        variant="outlined"
        aria-label={`Train ${props.name}: create a solution version`}
        onClick={() =>
          personalize
            .createSolutionVersion({ solutionArn: props.solutionArn, trainingMode: "FULL" })
            .then(() => {
              setError(undefined);
              props.onCreated();
            })
            .catch((err: unknown) => setError(String((err as Error).name ?? err) + ": " + String((err as Error).message)))
        }
      >
        Train
      </Button>
      {error && (
        <Typography role="alert" color="error" variant="body2">
          {error}
        </Typography>
      )}
    </>
  );
}

function CreateCampaign({ versions, onCreated }: { versions: GroupState["versions"]; onCreated: () => void }) {
  const { personalize } = useClients();
  const active = versions.filter((v) => v.status === "ACTIVE");
  const [name, setName] = useState("");
  const [versionArn, setVersion] = useState("");
  const [tps, setTps] = useState("1");
  const [metadata, setMetadata] = useState(true);
  const chosen = versionArn || active[0]?.solutionVersionArn || "";
  return (
    <CreateForm
      title="Create campaign"
      submitLabel="Create campaign"
      onSubmit={async () => {
        const out = await personalize.createCampaign({
          name,
          solutionVersionArn: chosen,
          minProvisionedTPS: Number(tps),
          campaignConfig: { enableMetadataWithRecommendations: metadata },
        });
        onCreated();
        return `Created ${out.campaignArn}`;
      }}
    >
      <TextField label="Campaign name" value={name} onChange={(e) => setName(e.target.value)} required />
      <SelectField
        label="Solution version"
        value={chosen}
        onChange={setVersion}
        required
        options={active.map((v) => ({
          value: v.solutionVersionArn ?? "",
          label: `${shortId(v.solutionArn)} / ${shortId(v.solutionVersionArn)}`,
        }))}
      />
      <TextField
        label="Minimum provisioned TPS"
        type="number"
        value={tps}
        onChange={(e) => setTps(e.target.value)}
        slotProps={{ htmlInput: { min: 1 } }}
      />
      <FormControlLabel
        control={<Checkbox checked={metadata} onChange={(e) => setMetadata(e.target.checked)} />}
        label="Return item metadata with recommendations"
      />
    </CreateForm>
  );
}

function CreateFilter({ groupArn, onCreated }: { groupArn: string; onCreated: () => void }) {
  const { personalize } = useClients();
  const [name, setName] = useState("");
  const [expression, setExpression] = useState("");
  return (
    <CreateForm
      title="Create filter"
      submitLabel="Create filter"
      onSubmit={async () => {
        const out = await personalize.createFilter({ name, datasetGroupArn: groupArn, filterExpression: expression });
        onCreated();
        return `Created ${out.filterArn}`;
      }}
    >
      <TextField label="Filter name" value={name} onChange={(e) => setName(e.target.value)} required />
      <TextField
        label="Filter expression"
        placeholder='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
        value={expression}
        onChange={(e) => setExpression(e.target.value)}
        required
      />
    </CreateForm>
  );
}

function CreateTracker({ groupArn, onCreated }: { groupArn: string; onCreated: () => void }) {
  const { personalize } = useClients();
  const [name, setName] = useState("");
  return (
    <CreateForm
      title="Create event tracker"
      submitLabel="Create event tracker"
      onSubmit={async () => {
        const out = await personalize.createEventTracker({ name, datasetGroupArn: groupArn });
        onCreated();
        return `Created ${out.eventTrackerArn} (tracking ID ${out.trackingId})`;
      }}
    >
      <TextField label="Event tracker name" value={name} onChange={(e) => setName(e.target.value)} required />
    </CreateForm>
  );
}
