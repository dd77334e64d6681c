import { useState } from "react";
import { Link as RouterLink } from "react-router-dom";
import { Link, Stack, TextField, Typography } from "@mui/material";
import type { DatasetGroupSummary } from "@aws-sdk/client-personalize";
import { useClients } from "../App";
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

export default function DatasetGroups() {
  const { personalize } = useClients();
  const groups = usePoll(
    async () => (await personalize.listDatasetGroups({ maxResults: 100 })).datasetGroups ?? [],
    [personalize],
    (rows) => rows.some((g) => moving(g.status)),
  );
  const [name, setName] = useState("");
  const [domain, setDomain] = useState("");
  return (
    <Stack spacing={3}>
      <Typography variant="h4" component="h1">
        Dataset groups
      </Typography>
      <ErrorLine error={groups.error} />
      <ResourceTable<DatasetGroupSummary>
        caption="Dataset groups"
        rows={groups.data}
        rowKey={(g) => g.datasetGroupArn ?? ""}
        columns={[
          {
            header: "Name",
            cell: (g) => (
              <Link component={RouterLink} to={`/groups/${encodeURIComponent(g.datasetGroupArn ?? "")}`}>
                {g.name}
              </Link>
            ),
          },
          { header: "Status", cell: (g) => <StatusChip status={g.status} /> },
          { header: "Domain", cell: (g) => g.domain ?? "Custom" },
          { header: "Created", cell: (g) => formatDate(g.creationDateTime) },
          { header: "Last updated", cell: (g) => formatDate(g.lastUpdatedDateTime) },
          {
            header: "Details",
            cell: (g) => (
              <DetailsButton
                label={`Dataset group ${g.name}`}
                describe={() => personalize.describeDatasetGroup({ datasetGroupArn: g.datasetGroupArn })}
              />
            ),
          },
        ]}
      />
      <CreateForm
        title="Create dataset group"
        submitLabel="Create dataset group"
        level={2}
        onSubmit={async () => {
          const out = await personalize.createDatasetGroup({ name, ...(domain ? { domain: domain as "ECOMMERCE" } : {}) });
          groups.reload();
          setName("");
          return `Created ${out.datasetGroupArn}`;
        }}
      >
        <TextField label="Dataset group name" value={name} onChange={(e) => setName(e.target.value)} required />
        <SelectField
          label="Domain"
          value={domain}
          onChange={setDomain}
          options={[
            { value: "", label: "Custom" },
            { value: "ECOMMERCE", label: "E-commerce" },
            { value: "VIDEO_ON_DEMAND", label: "Video on demand" },
          ]}
        />
      </CreateForm>
    </Stack>
  );
}
