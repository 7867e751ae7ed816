"use client";
import { useState } from "react";
import { useRouter } from "next/navigation";
import { signIn } from "next-auth/react";

const MESSAGES = {
  invalid_credentials: "Wrong username or password.",
  username_taken: "That username is taken.",
  invalid_payload: "Usernames are 3-32 characters of A-Z a-z 0-9 _ . -; passwords at least 8 characters.",
  rate_limited: "Too many attempts; wait a minute.",
  network_error: "The chat server cannot be reached.",
};

export default function SignInPage() {
  const router = useRouter();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    const mode = event.nativeEvent.submitter && event.nativeEvent.submitter.value;
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError("");
    const result = await signIn("credentials", {
      username: String(form.get("username") || "").trim(),
      password: String(form.get("password") || ""),
      mode: mode === "register" ? "register" : "login",
      redirect: false,
    });
    setBusy(false);
    if (result && result.ok && !result.error) {
      router.replace("/");
      router.refresh();
    } else {
      const code = (result && result.error) || "network_error";
      setError(MESSAGES[code] || `Sign-in failed: ${code}`);
    }
  }

  return (
    <main className="signin">
      <h1>Sign in</h1>
      <form onSubmit={submit} className="panel">
        <label htmlFor="username">Username</label>
        <input id="username" name="username" autoComplete="username" required minLength={3} maxLength={32} />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required minLength={8} />
        <div className="buttons">
          <button type="submit" value="login" disabled={busy}>Sign in</button>
          <button type="submit" value="register" disabled={busy}>Register</button>
        </div>
        <p role="alert" className="error">{error}</p>
      </form>
    </main>
  );
}
