"use client";
import { createContext, useContext } from "react";
import { useWebSocket } from "@/hooks/useWebSocket";

const RealtimeContext = createContext(null);

/** Opens the signed-in user's socket and hands it to every component below. */
export function RealtimeProvider({ url, children }) {
  const realtime = useWebSocket({ url });
  return <RealtimeContext.Provider value={realtime}>{children}</RealtimeContext.Provider>;
}

/** {status, stats, user, sessionError, on, emitWithAck} of the current socket. */
export function useRealtime() {
  const value = useContext(RealtimeContext);
  if (!value) throw new Error("useRealtime() needs a <RealtimeProvider> above it");
  return value;
}
