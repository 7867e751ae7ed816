"use client";
import { formatStatus } from "flask-realtime-client";
import { useRealtime } from "./RealtimeProvider";

/** The status text: "connected", "reconnecting", "stopped: token_revoked", "signed out"... */
export function statusText(status) {
  if (status.state === "signed_out") return "signed out";
  if (status.state === "loading") return "loading";
  return formatStatus(status);
}

/** Connection status, sid, and how many connects, in-place token refreshes and retries it took. */
export default function ConnectionStatus() {
  const { status, stats } = useRealtime();
  const retry = status.state === "reconnecting" && status.code ? ` after ${status.code}` : "";
  return (
    <div className="connection" aria-live="polite">
      <span className="label">Connection</span>
      <output data-testid="connection-status" data-state={status.state} className={`status ${status.state}`}>
        {statusText(status)}
      </output>
      <span className="detail">{retry}</span>
      <span className="label">sid</span>
      <code data-testid="sid">{stats.sid || "-"}</code>
      <span className="label" title="connections opened for this user">connects</span>
      <span data-testid="connects" data-connected-at={stats.connectedAt || ""}>{stats.connects}</span>
      <span className="label" title="tokens swapped in place">refreshes</span>
      <span data-testid="refreshes">{stats.refreshes}</span>
      <span className="label" title="reconnect attempts scheduled">retries</span>
      <span data-testid="retries">{stats.retries}</span>
    </div>
  );
}
