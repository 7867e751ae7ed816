import Providers from "./providers";
import { socketUrl } from "@/lib/config";
import "./globals.css";

// Read the backend's address per request (lib/config.js), not at build time.
export const dynamic = "force-dynamic";

export const metadata = { title: "Real-time chat (Next.js)" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <Providers socketUrl={socketUrl()}>{children}</Providers>
      </body>
    </html>
  );
}
