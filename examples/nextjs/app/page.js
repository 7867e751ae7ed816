"use client";
import Link from "next/link";
import { signOut } from "next-auth/react";
import Chat from "@/components/Chat";
import ConnectionStatus from "@/components/ConnectionStatus";
import { useRealtime } from "@/components/RealtimeProvider";

export default function Home() {
  const { status, user } = useRealtime();
  const ended = status.state === "stopped" && status.code !== "closed";
  return (
    <>
      <header className="topbar">
        <h1>Real-time chat</h1>
        <ConnectionStatus />
        {user ? (
          <div className="who">
            <span data-testid="username">{user.username}</span>
            <button type="button" onClick={() => signOut({ redirect: false })}>Sign out</button>
          </div>
        ) : null}
      </header>
      <main>
        {status.state === "signed_out" ? (
          <p className="panel notice" data-testid="signed-out">
            You are signed out. <Link href="/signin">Sign in</Link>
          </p>
        ) : null}
        {ended ? (
          <p className="panel notice error" role="alert" data-testid="session-ended">
            Session ended ({status.code}).{" "}
            <button type="button" onClick={() => signOut({ callbackUrl: "/signin" })}>Sign in again</button>
          </p>
        ) : null}
        {user ? <Chat key={user.id} username={user.username} /> : null}
      </main>
    </>
  );
}
