// Shared building blocks: polling, resource tables (MUI's accessible Table), details dialogs, forms.
import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import {
  Alert,
  Box,
  Button,
  Chip,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  Paper,
  TextField,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  Typography,
} from "@mui/material";
import { errorText } from "./session";

const TERMINAL = /^(ACTIVE|CREATE FAILED|DELETE FAILED|FAILED|STOPPED|CREATE STOPPED|INACTIVE)$/;

/** True while a status is still moving (CREATE PENDING, CREATE IN_PROGRESS, DELETE PENDING, ...). */
export function moving(status: string | undefined): boolean {
  return status !== undefined && !TERMINAL.test(status);
}

/** Load now and again every `everyMs` while `keepPolling(data)` says something is still moving. */
export function usePoll<T>(
  load: () => Promise<T>,
  deps: unknown[],
  keepPolling: (data: T) => boolean = () => false,
  everyMs = 2000,
): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    loadRef
      .current()
      .then((value) => {
        if (cancelled) return;
        setData(value);
        setError(undefined);
        if (keepPolling(value)) timer = window.setTimeout(() => setTick((t) => t + 1), everyMs);
      })
      .catch((err: unknown) => {
        if (cancelled) return;
        setError(errorText(err));
        timer = window.setTimeout(() => setTick((t) => t + 1), everyMs * 3);
      });
    return () => {
      cancelled = true;
      if (timer !== undefined) window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload };
}

export function StatusChip({ status }: { status?: string }) {
  if (!status) return null;
  const color = status === "ACTIVE" ? "success" : /FAILED/.test(status) ? "error" : moving(status) ? "info" : "default";
  return <Chip size="small" label={status} color={color} variant={moving(status) ? "outlined" : "filled"} />;
}

export function formatDate(value: unknown): string {
  return value instanceof Date ? value.toLocaleString() : value ? String(value) : "";
}

export interface Column<R> {
  header: string;
  cell: (row: R) => ReactNode;
}

/** A captioned table (the caption names it for screen readers); `rowKey` identifies rows. */
export function ResourceTable<R>(props: {
  caption: string;
  rows: R[] | undefined;
  columns: Column<R>[];
  rowKey: (row: R) => string;
  empty?: string;
}) {
  const { caption, rows, columns, rowKey } = props;
  return (
    // Focusable and named, so a table wider than the page can be scrolled with the keyboard (WCAG 2.1.1).
    <TableContainer component={Paper} variant="outlined" tabIndex={0} role="region" aria-label={`${caption} (table)`}>
      <Table size="small" aria-label={caption}>
        <caption>{caption}</caption>
        <TableHead>
          <TableRow>
            {columns.map((c) => (
              <TableCell key={c.header} component="th" scope="col">
                {c.header}
              </TableCell>
            ))}
          </TableRow>
        </TableHead>
        <TableBody>
          {rows === undefined ? (
            <TableRow>
              <TableCell colSpan={columns.length}>Loading…</TableCell>
            </TableRow>
          ) : rows.length === 0 ? (
            <TableRow>
              <TableCell colSpan={columns.length}>{props.empty ?? "None yet."}</TableCell>
            </TableRow>
          ) : (
            rows.map((row) => (
              <TableRow key={rowKey(row)} data-key={rowKey(row)}>
                {columns.map((c) => (
                  <TableCell key={c.header}>{c.cell(row)}</TableCell>
                ))}
              </TableRow>
            ))
          )}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

/** "Details" opens the resource's Describe answer, every field, in a dialog. */
export function DetailsButton(props: { label: string; describe: () => Promise<unknown> }) {
  const [open, setOpen] = useState(false);
  const [body, setBody] = useState<string>("Loading…");
  const show = () => {
    setOpen(true);
    setBody("Loading…");
    props
      .describe()
      .then((value) => setBody(JSON.stringify(value, (k, v) => (k === "$metadata" ? undefined : v), 2)))
      .catch((err: unknown) => setBody(errorText(err)));
  };
  return (
    <>
      <Button size="small" onClick={show} aria-label={`Details of ${props.label}`}>
        Details
      </Button>
      <Dialog open={open} onClose={() => setOpen(false)} maxWidth="md" fullWidth aria-labelledby="details-title">
        <DialogTitle id="details-title">{props.label}</DialogTitle>
        <DialogContent>
          <Box component="pre" sx={{ fontSize: 13, whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
            {body}
          </Box>
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setOpen(false)}>Close</Button>
        </DialogActions>
      </Dialog>
    </>
  );
}

/** A form section: heading, fields, a submit button, and the typed error or success of the last submit. */
export function CreateForm(props: {
  title: string;
  submitLabel: string;
  onSubmit: () => Promise<string | void>;
  children: ReactNode;
  /** Its heading's level: 3 inside a page section, 2 directly under the page's h1. */
  level?: 2 | 3;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const id = props.title.replace(/\W+/g, "-").toLowerCase();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    props
      .onSubmit()
      .then((message) => setDone(message || "Created."))
      .catch((err: unknown) => setError(errorText(err)))
      .finally(() => setBusy(false));
  };
  return (
    <Paper variant="outlined" sx={{ p: 2 }} component="section" aria-labelledby={id}>
      <Typography variant="h6" component={props.level === 2 ? "h2" : "h3"} id={id} gutterBottom>
        {props.title}
      </Typography>
      <Box component="form" onSubmit={submit} aria-label={props.title}>
        <Stack spacing={1.5}>
          {props.children}
          <Box>
            <Button type="submit" variant="contained" disabled={busy}>
              {props.submitLabel}
            </Button>
          </Box>
          {error && (
            <Alert severity="error" role="alert">
              {error}
            </Alert>
          )}
          {done && <Alert severity="success">{done}</Alert>}
        </Stack>
      </Box>
    </Paper>
  );
}

export function ErrorLine({ error }: { error?: string }) {
  return error ? (
    <Alert severity="error" role="alert">
      {error}
    </Alert>
  ) : null;
}

/** A labelled native <select> (keyboard- and screen-reader-friendly, and what browser tests drive). */
export function SelectField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
  required?: boolean;
}) {
  return (
    <TextField
      select
      label={props.label}
      value={props.value}
      required={props.required}
      onChange={(e) => props.onChange(e.target.value)}
      slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
    >
      {props.options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </TextField>
  );
}
