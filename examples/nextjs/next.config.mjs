import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // This folder is the app's root (the repository above has its own package-lock.json).
  turbopack: { root: here },
  outputFileTracingRoot: here,
};

export default nextConfig;
