// The browser client is the npm package in clients/js/ (flask-realtime-client), served from
// /static/vendor/ by scripts/vendor.sh and found through the demo page's import map. This file
// keeps the old URL working.
export * from "flask-realtime-client";
