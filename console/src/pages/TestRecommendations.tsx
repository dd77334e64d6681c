// Personalize's "Test campaign results": one GetRecommendations / GetPersonalizedRanking call with every option
// the API takes, and the answer as a table with each item's score, reasons and metadata.
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { Grid, Stack, TextField, Typography } from "@mui/material";
import type { PredictedItem } from "@aws-sdk/client-personalize-runtime";
import { useClients } from "../App";
import { CreateForm, ErrorLine, ResourceTable, SelectField, usePoll } from "../components";

/** `KEY=value` lines (one a line; blank lines ignored) as an object. */
function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (line.trim() && at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

const nonEmpty = (o: Record<string, string>) => (Object.keys(o).length ? o : undefined);

export default function TestRecommendations() {
  const { personalize, runtime } = useClients();
  const [params] = useSearchParams();
  const targets = usePoll(async () => {
    const [campaigns, recommenders, filters] = await Promise.all([
      personalize.listCampaigns({ maxResults: 100 }).then((r) => r.campaigns ?? []),
      personalize.listRecommenders({ maxResults: 100 }).then((r) => r.recommenders ?? []),
      personalize.listFilters({ maxResults: 100 }).then((r) => r.Filters ?? []),
    ]);
    return { campaigns, recommenders, filters };
  }, [personalize]);
  const [target, setTarget] = useState(params.get("campaign") ?? "");
  const [operation, setOperation] = useState("user");
  const [userId, setUserId] = useState("");
  const [itemId, setItemId] = useState("");
  const [inputList, setInputList] = useState("");
  const [numResults, setNumResults] = useState("10");
  const [filterArn, setFilter] = useState("");
  const [filterValues, setFilterValues] = useState("");
  const [promoFilter, setPromoFilter] = useState("");
  const [promoPercent, setPromoPercent] = useState("10");
  const [promoValues, setPromoValues] = useState("");
  const [metadata, setMetadata] = useState("");
  const [context, setContext] = useState("");
  const [result, setResult] = useState<{ items: PredictedItem[]; recommendationId?: string }>();

  const campaigns = targets.data?.campaigns ?? [];
  const recommenders = targets.data?.recommenders ?? [];
  const filters = targets.data?.filters ?? [];
  const chosen = target || campaigns[0]?.campaignArn || recommenders[0]?.recommenderArn || "";
  const isRecommender = chosen.includes(":recommender/");
  const filterOptions = [{ value: "", label: "No filter" }, ...filters.map((f) => ({ value: f.filterArn ?? "", label: f.name ?? "" }))];

  const run = async () => {
    const columns = metadata.split(",").map((c) => c.trim()).filter(Boolean);
    const common = {
      filterArn: filterArn || undefined,
      filterValues: filterArn ? nonEmpty(pairs(filterValues)) : undefined,
      context: nonEmpty(pairs(context)),
      metadataColumns: columns.length ? { ITEMS: columns } : undefined,
    };
    const at = isRecommender ? { recommenderArn: chosen } : { campaignArn: chosen };
    if (operation === "ranking") {
      const out = await runtime.getPersonalizedRanking({
        campaignArn: chosen,
        userId,
        inputList: inputList.split(",").map((i) => i.trim()).filter(Boolean),
        ...common,
      });
      setResult({ items: out.personalizedRanking ?? [], recommendationId: out.recommendationId });
    } else {
      const out = await runtime.getRecommendations({
        ...at,
        ...(operation === "user" ? { userId } : { itemId }),
        numResults: Number(numResults),
        ...common,
        promotions: promoFilter
          ? [
              {
                name: "promotion",
                filterArn: promoFilter,
                percentPromotedItems: Number(promoPercent),
                filterValues: nonEmpty(pairs(promoValues)),
              },
            ]
          : undefined,
      });
      setResult({ items: out.itemList ?? [], recommendationId: out.recommendationId });
    }
    return "Done.";
  };

  return (
    <Stack spacing={3}>
      <Typography variant="h4" component="h1">
        Test recommendations
      </Typography>
      <ErrorLine error={targets.error} />
      <CreateForm title="Request" submitLabel="Get recommendations" onSubmit={run} level={2}>
        <Grid container spacing={2}>
          <Grid size={{ xs: 12, md: 6 }}>
            <Stack spacing={1.5}>
              <SelectField
                label="Campaign or recommender"
                value={chosen}
                onChange={setTarget}
                required
                options={[
                  ...campaigns.map((c) => ({ value: c.campaignArn ?? "", label: `Campaign ${c.name} (${c.status})` })),
                  ...recommenders.map((r) => ({ value: r.recommenderArn ?? "", label: `Recommender ${r.name} (${r.status})` })),
                ]}
              />
              <SelectField
                label="Operation"
                value={operation}
                onChange={setOperation}
                options={[
                  { value: "user", label: "GetRecommendations for a user" },
                  { value: "item", label: "GetRecommendations for an item (related items)" },
                  { value: "ranking", label: "GetPersonalizedRanking for a user" },
                ]}
              />
              {operation === "item" ? (
                <TextField label="Item ID" value={itemId} onChange={(e) => setItemId(e.target.value)} required />
              ) : (
                <TextField label="User ID" value={userId} onChange={(e) => setUserId(e.target.value)} required />
              )}
              {operation === "ranking" ? (
                <TextField
                  label="Items to rank (comma-separated IDs)"
                  value={inputList}
                  onChange={(e) => setInputList(e.target.value)}
                  required
                />
              ) : (
                <TextField
                  label="Number of results"
                  type="number"
                  value={numResults}
                  onChange={(e) => setNumResults(e.target.value)}
                  slotProps={{ htmlInput: { min: 1, max: 500 } }}
                />
              )}
              <TextField
                label="Item metadata columns (comma-separated)"
                placeholder="GENRES, PRICE"
                value={metadata}
                onChange={(e) => setMetadata(e.target.value)}
              />
              <TextField
                label="Context (KEY=value, one a line)"
                placeholder="DEVICE=mobile"
                value={context}
                onChange={(e) => setContext(e.target.value)}
                multiline
                minRows={2}
              />
            </Stack>
          </Grid>
          <Grid size={{ xs: 12, md: 6 }}>
            <Stack spacing={1.5}>
              <SelectField label="Filter" value={filterArn} onChange={setFilter} options={filterOptions} />
              <TextField
                label="Filter parameters (NAME=value, one a line)"
                placeholder={'GENRE="comedy"'}
                value={filterValues}
                onChange={(e) => setFilterValues(e.target.value)}
                multiline
                minRows={2}
              />
              <SelectField label="Promotion filter" value={promoFilter} onChange={setPromoFilter} options={filterOptions} />
              <TextField
                label="Promoted items (percent)"
                type="number"
                value={promoPercent}
                onChange={(e) => setPromoPercent(e.target.value)}
                slotProps={{ htmlInput: { min: 1, max: 100 } }}
              />
              <TextField
                label="Promotion filter parameters (NAME=value, one a line)"
                value={promoValues}
                onChange={(e) => setPromoValues(e.target.value)}
                multiline
                minRows={2}
              />
            </Stack>
          </Grid>
        </Grid>
      </CreateForm>
      {result && (
        <Stack spacing={1} component="section" aria-labelledby="results-title">
          <Typography variant="h5" component="h2" id="results-title">
            Results
          </Typography>
          <Typography variant="body2">Recommendation ID: {result.recommendationId ?? "(none)"}</Typography>
          <ResourceTable<PredictedItem & { rank: number }>
            caption="Recommended items"
            rows={result.items.map((item, i) => ({ ...item, rank: i + 1 }))}
            rowKey={(r) => `${r.rank}-${r.itemId}`}
            empty="No items."
            columns={[
              { header: "Rank", cell: (r) => r.rank },
              { header: "Item ID", cell: (r) => r.itemId },
              { header: "Score", cell: (r) => (r.score === undefined ? "" : r.score.toFixed(4)) },
              { header: "Reasons", cell: (r) => [r.promotionName && `Promotion ${r.promotionName}`, ...(r.reason ?? [])].filter(Boolean).join("; ") },
              {
                header: "Metadata",
                cell: (r) => (r.metadata ? Object.entries(r.metadata).map(([k, v]) => `${k}: ${v}`).join(", ") : ""),
              },
            ]}
          />
        </Stack>
      )}
    </Stack>
  );
}
