"use client";
import { SessionProvider } from "next-auth/react";
import { RealtimeProvider } from "@/components/RealtimeProvider";

export default function Providers({ socketUrl, children }) {
  return (
    <SessionProvider>
      <RealtimeProvider url={socketUrl}>{children}</RealtimeProvider>
    </SessionProvider>
  );
}
