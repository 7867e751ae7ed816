// The browser client is the npm package in clients/js/ (flask-realtime-client), served from
// /static/vendor/ by scripts/vendor.sh. This file keeps the old URL working.
export * from "/static/vendor/flask-realtime-client/index.js";
