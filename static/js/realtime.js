// The browser client is the npm package in clients/js/ (flask-realtime-client); the page's
// import map resolves its name. This file keeps the old URL working for pages that import it.
export * from "flask-realtime-client";
