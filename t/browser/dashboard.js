// t/browser/dashboard.js: drives the scaler's dashboard in Debian's
// Chromium through playwright-core, for t/ui_dashboard.t.  One JSON object
// per line on stdout: {"ok":bool,"name":...,"diag":...}, {"skip":reason}
// when Chromium cannot start, {"screenshot":path} at the end.
//
//   PLAYWRIGHT_CORE=.../node_modules/playwright-core SCALESET_API=http://...
//   SCALESET_TOKEN=... SCALESET_DIR=<temp dir> node t/browser/dashboard.js
"use strict";

const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const API = process.env.SCALESET_API;
const TOKEN = process.env.SCALESET_TOKEN;
const DIR = process.env.SCALESET_DIR;
const CHROMIUM = process.env.SCALESET_CHROMIUM || "/usr/bin/chromium";
const WAIT = 30000;          // ms, per condition (a loaded 2-core machine)

function out(o) { process.stdout.write(JSON.stringify(o) + "\n"); }
function ok(cond, name, diag) { out({ ok: !!cond, name, diag }); return !!cond; }

async function apiGet(p) {
  const r = await fetch(API + p, { headers: { Authorization: "Bearer " + TOKEN } });
  return r.json();
}
async function apiPut(p, body) {
  const r = await fetch(API + p, { method: "PUT", body: JSON.stringify(body),
    headers: { Authorization: "Bearer " + TOKEN, "Content-Type": "application/json" } });
  return r.status;
}

// waits for fn() (in the page) to be true; ok() either way
async function until(page, name, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT, polling: 100 });
    return ok(true, name);
  } catch (e) {
    const text = await page.evaluate(() => document.body.innerText).catch(() => "");
    return ok(false, name, e.message.split("\n")[0] + "\npage:\n" + text.slice(0, 2000));
  }
}

async function main() {
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(path.join(DIR, "chromium-profile"), {
      executablePath: CHROMIUM, headless: true, timeout: 60000,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"],
    });
  } catch (e) {
    out({ skip: "Chromium cannot start: " + e.message.split("\n")[0] });
    return;
  }
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on("pageerror", e => errors.push(e.message));
  // the browser logs every 401 and 404 answer (the refused token, the
  // endpoints this scaler lacks): expected, not errors of the page
  page.on("console", m => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of (401|404)\b/.test(m.text()))
      errors.push(m.text());
  });
  try {
    await page.goto(API + "/ui/?poll=250&confirm=0", { timeout: WAIT });
    ok(await page.title() === "scaleset", "the page loads (title scaleset)");

    await until(page, "without a token it asks for one",
      () => !document.querySelector("#login").hidden
            && /token needed/.test(document.querySelector("#status").textContent));
    ok(!(await page.$("#pool-web")), "and shows no pool before it has one");

    await page.fill("#token", "wrong");
    await page.click("#login button[type=submit]");
    await until(page, "a wrong token is refused",
      () => /token refused/.test(document.querySelector("#status").textContent)
            && !document.querySelector("#login").hidden);

    await page.fill("#token", TOKEN);
    await page.click("#login button[type=submit]");
    await until(page, "with the token it shows the pool",
      () => document.querySelector("#pool-web .desired")
            && document.querySelector("#pool-web .desired").textContent === "2");
    ok(await page.evaluate(k => sessionStorage.getItem(k), "scaleset.token") === TOKEN,
       "the token is kept in sessionStorage");
    await until(page, "both instances are listed, running, with their zone",
      () => [...document.querySelectorAll("#pool-web tr.instance")]
              .filter(r => r.querySelector(".state").textContent === "running"
                           && /^z[12]$/.test(r.children[2].textContent)).length === 2);
    await until(page, "running per zone adds up to 2",
      () => [...document.querySelectorAll("#pool-web .running-zone")]
              .reduce((a, td) => a + Number(td.textContent), 0) === 2);

    // capacity changed elsewhere (the API, as scalesetctl would)
    ok(await apiPut("/v1/pools/web/capacity", { capacity: 3 }) === 200, "PUT capacity 3 through the API");
    await until(page, "the page follows: desired 3",
      () => document.querySelector("#pool-web .desired").textContent === "3");
    await until(page, "and a third instance appears",
      () => document.querySelectorAll("#pool-web tr.instance").length === 3
            && document.querySelector("#pool-web .running").textContent === "3");

    // the scale button, with the token
    await page.fill("#pool-web .capacity", "1");
    await page.click("#pool-web .scale-button");
    await until(page, "the scale button sets capacity 1",
      () => document.querySelector("#pool-web .desired").textContent === "1");
    let p = await apiGet("/v1/pools/web");
    ok(p.capacity === 1, "the scaler has capacity 1", JSON.stringify(p.capacity));
    await until(page, "instances go down to 1",
      () => document.querySelectorAll("#pool-web tr.instance").length === 1);

    // history: the chart has points, the two capacity changes are listed
    await until(page, "the capacity chart has points",
      () => Number((document.querySelector('#pool-web [data-chart=capacity] path[data-series=desired]')
                    || { getAttribute: () => 0 }).getAttribute("data-points")) >= 1);
    await until(page, "the last decisions list both capacity changes",
      () => [...document.querySelectorAll("#pool-web .decisions li")]
              .filter(li => /api: capacity set through the API/.test(li.textContent)).length >= 2
            && /3 → 1/.test(document.querySelector("#pool-web .decisions li").textContent));

    // the gateways' traffic, from Prometheus through the scaler's history
    await until(page, "requests/s from Prometheus (50/s)",
      () => Math.abs(Number(document.querySelector("#pool-web .rps").textContent) - 50) <= 15);
    await until(page, "active connections from Prometheus (7)",
      () => document.querySelector("#pool-web .conns").textContent === "7");
    await until(page, "a traffic chart",
      () => Number((document.querySelector('#pool-web [data-chart=traffic] path[data-series="requests/s"]')
                    || { getAttribute: () => 0 }).getAttribute("data-points")) >= 1);

    await page.screenshot({ path: path.join(DIR, "dashboard.png"), fullPage: true });
    out({ screenshot: path.join(DIR, "dashboard.png") });

    // without the (right) token the same button is refused
    // (in one step: the page's next poll would notice the token first)
    await page.evaluate(k => {
      sessionStorage.setItem(k, "not-the-token");
      document.querySelector("#pool-web .capacity").value = "4";
      document.querySelector("#pool-web .scale-button").click();
    }, "scaleset.token");
    await until(page, "without the token the scale button is refused with the API's message",
      () => /missing or wrong bearer token/.test(document.querySelector("#message").textContent)
            && !document.querySelector("#message").hidden);
    await until(page, "and the page asks for the token again",
      () => !document.querySelector("#login").hidden);
    p = await apiGet("/v1/pools/web");
    ok(p.capacity === 1, "the capacity stayed 1", JSON.stringify(p.capacity));

    ok(errors.length === 0, "no JavaScript errors", errors.join("\n"));
  } catch (e) {
    ok(false, "browser steps", e.stack);
  } finally {
    await ctx.close();
  }
}

main().catch(e => { ok(false, "driver", e.stack); process.exitCode = 1; });
