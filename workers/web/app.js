// The search page: results as cards; a click plays the video from the moment's start with captions on,
// and the strip under the player marks the video's events. Every string from the server (file names, captions,
// labels) goes into the page as text (textContent, attributes), never as HTML; the server's
// Content-Security-Policy allows no inline script as a second wall. Ask shows an answer whose citations play their
// moment (unverified ones are marked, not linked); the filter row narrows searches (video, kind, label, from/to)
// and answers (video, from/to); Summarize summarizes the playing video; new alerts arrive over server-sent
// events. An image (uploaded, or a result's frame with "more like this") finds the moments that look like it in the
// frame index. The API key goes in a header on the page's own requests and as ?key= on media URLs, since <video>,
// <img> and <track> cannot send headers.
const $ = (id) => document.getElementById(id);
const hhmmss = (s) => new Date(Math.max(0, s) * 1000).toISOString().substring(11, 19);

function headers() {
  const key = $("key").value;
  return key ? { "X-API-Key": key } : {};
}

function media(url) {
  const key = $("key").value;
  return key ? `${url}${url.includes("?") ? "&" : "?"}key=${encodeURIComponent(key)}` : url;
}

async function getJSON(url, options = {}) {
  const response = await fetch(url, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function seconds(text) {
  // "95", "1:35" or "00:01:35" -> 95; a UTC time "2026-11-24T23:59:01Z" (live sources) -> Unix seconds;
  // empty -> null; anything else is an error the status line shows
  if (!text.trim()) return null;
  if (text.includes("T")) {
    const ms = Date.parse(text.trim());
    if (Number.isNaN(ms)) throw new Error(`"${text}" is not an ISO time such as 2026-11-24T23:59:01Z`);
    return ms / 1000;
  }
  const parts = text.trim().split(":");
  if (parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) {
    throw new Error(`"${text}" is not a time (s or HH:MM:SS)`);
  }
  if (parts.slice(1).some((p) => Number(p) >= 60)) throw new Error(`"${text}": minutes and seconds go up to 59`);
  return parts.reduce((total, p) => total * 60 + Number(p), 0);
}

function filters() {
  // the filter row as the API's parameters; only the ones set
  const set = {
    video: $("video").value || null,
    kind: $("kind").value || null,
    label: $("label").value.trim() || null,
    after: seconds($("after").value),
    before: seconds($("before").value),
  };
  return Object.fromEntries(Object.entries(set).filter(([, v]) => v !== null));
}

async function loadVideos() {
  // the video filter's choices, by file name (by path where two share a name); reloaded when it gets focus,
  // since ingests add videos while the page is open, and rebuilt only when they changed (an open list stays)
  try {
    const body = await getJSON("/videos");
    const select = $("video");
    const ids = body.videos.map((v) => v.video_id);
    if (ids.join() === [...select.options].slice(1).map((o) => o.value).join()) return;
    const chosen = select.value;
    select.length = 1;
    const name = (v) => v.path.split("/").pop();
    const count = {};
    for (const v of body.videos) count[name(v)] = (count[name(v)] || 0) + 1;
    for (const v of body.videos) select.add(new Option(count[name(v)] > 1 ? v.path : name(v), v.video_id));
    select.value = chosen;
  } catch (err) {
    // no key yet, or the server is busy: the list stays as it was
  }
}

let lastSearch = 0;  // searches overlap when filters change quickly: only the newest one's answer is shown
let nextPage = null;  // {query, offset} of the next page, while there is one ("More results")
let PAGE = 12;  // results a page asks for (a test sets fewer)

async function search(query, offset = 0) {
  const mine = ++lastSearch;
  $("status").textContent = "searching...";
  try {
    const grouped = $("grouped").checked;
    const params = new URLSearchParams({ q: query, k: PAGE, offset, modality: $("modality").value, ...filters() });
    if (grouped) params.set("group_by", "video");
    const body = await getJSON(`/search?${params}`);
    if (mine !== lastSearch) return;
    if (offset === 0) $("results").replaceChildren();
    if (grouped) renderGroups(body.groups, body.notices);
    else renderResults(body.results, offset, body.notices);
    nextPage = body.next_offset === null ? null : { query, offset: body.next_offset };
    $("more").classList.toggle("shown", nextPage !== null);
    const shown = $("results").querySelectorAll(".card").length;
    $("status").textContent = grouped
      ? `${$("results").querySelectorAll(".group").length} files, ${shown} moments`
      : `${shown} result${shown === 1 ? "" : "s"}`;
  } catch (err) {
    if (mine === lastSearch) $("status").textContent = `error: ${err.message}`;
  }
}

async function searchImage(image, what) {
  // moments that look like ``image`` (a Blob): the frame index only, one page, filtered by video and time
  const mine = ++lastSearch;
  $("status").textContent = "searching by image...";
  try {
    const { kind, label, ...kept } = filters();  // frames have no kind or label
    const params = new URLSearchParams({ k: PAGE, ...kept });
    const type = image.type || "image/jpeg";
    const body = await getJSON(`/search/image?${params}`, { method: "POST", body: image, headers: { "Content-Type": type } });
    if (mine !== lastSearch) return;
    $("results").replaceChildren();
    renderResults(body.results, 0, body.notices);
    nextPage = null;
    $("more").classList.remove("shown");
    $("status").textContent = `${body.results.length} moments that look like ${what}`;
  } catch (err) {
    if (mine === lastSearch) $("status").textContent = `error: ${err.message}`;
  }
}

async function moreLikeThis(hit) {
  // the result's frame (its thumbnail) as the image query
  const response = await fetch(media(thumbnailURL(hit)), { headers: headers() });
  if (!response.ok) {
    $("status").textContent = `error: no frame for this result (${response.status})`;
    return;
  }
  await searchImage(await response.blob(), `the frame at ${hhmmss(hit.start_s)}`);
}

const thumbnailURL = (hit) => `/videos/${encodeURIComponent(hit.video_id)}/thumbnail?t=${hit.start_s.toFixed(2)}`;

function renderGroups(groups, notices) {
  // one heading per file (its name as text), its best moments under it
  for (const group of groups) {
    $("results").appendChild(element("h3", "group", group.video.split("/").pop()));
    renderResults(group.results, $("results").querySelectorAll(".card").length, notices);
  }
}

// a moment's times as the API reads them (HH:MM:SS for a file, UTC for a live source), else from its seconds
const span = (hit) => (hit.start && hit.end ? `${hit.start}-${hit.end}` : `${hhmmss(hit.start_s)}-${hhmmss(hit.end_s)}`);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderResults(results, first = 0, notices = {}) {
  // cards appended after what is shown (a page of "More results" starts at ``first``); ask replaces them. Each
  // says which model wrote its text, and what ``notices`` says of that model (the tiny test model's is noise).
  const list = $("results");
  if (first === 0 && !$("grouped").checked) list.replaceChildren();
  results.forEach((hit, i) => {
    const card = element("article", "card");
    card.dataset.rank = first + i;
    card.dataset.video = hit.video_id;
    card.dataset.start = hit.start_s;
    const thumb = element("img");
    thumb.alt = "";
    thumb.loading = "lazy";
    thumb.src = media(thumbnailURL(hit));
    const name = hit.video.split("/").pop();
    const body = element("div");
    const by = hit.model ? ` · described by ${hit.model}` : "";
    body.append(
      element("div", "meta", `${name} · ${span(hit)} · ${hit.score.toFixed(3)} · ${hit.kind}${by}`),
      element("div", "text", hit.kind === "speech" ? `said: “${hit.text}”` : hit.text),
    );
    if (notices[hit.model]) body.append(element("div", "notice", `text by the ${notices[hit.model]}`));
    const alike = element("button", "alike", "more like this");
    alike.title = "moments that look like this frame";
    alike.addEventListener("click", (e) => { e.stopPropagation(); moreLikeThis(hit); });
    body.append(alike);
    card.append(thumb, body);
    card.addEventListener("click", () => play(hit));
    list.appendChild(card);
  });
}

async function ask(question) {
  $("status").textContent = "asking the model...";
  const panel = $("answer");
  panel.textContent = "";
  try {
    const { video, after, before } = filters();
    const body = await getJSON("/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, video, after_s: after, before_s: before }),
    });
    renderAnswer(body);
    $("results").replaceChildren();
    $("more").classList.remove("shown");
    renderResults(body.moments.map((m) => ({ ...m })), 0, body.notices || {});
    $("status").textContent = `${body.citations.filter((c) => c.valid).length} cited moments, ` +
      `${body.unsupported.length} unverified`;
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
}

function renderAnswer(body) {
  // the answer's text, with each valid citation a link to its moment and unverified ones in red
  const panel = $("answer");
  panel.replaceChildren();
  let text = body.answer;
  const marks = [...body.citations].map((c) => ({ ...c, at: text.indexOf(c.text) })).filter((c) => c.at >= 0);
  marks.sort((a, b) => a.at - b.at);
  let pos = 0;
  for (const c of marks) {
    if (c.at < pos) continue;
    panel.append(document.createTextNode(text.slice(pos, c.at)));
    const span = document.createElement("span");
    span.textContent = c.text;
    if (c.valid) {
      const moment = body.moments[c.moment];
      span.className = "cite";
      span.addEventListener("click", () => play({ ...moment, start_s: c.start_s }));
    } else {
      span.className = "unverified";
    }
    panel.append(span);
    pos = c.at + c.text.length;
  }
  panel.append(document.createTextNode(text.slice(pos)));
  for (const bad of body.unsupported) {
    const note = document.createElement("div");
    note.className = "unverified";
    note.textContent = `unverified: ${bad} is not among the retrieved moments`;
    panel.append(note);
  }
}

async function summarizeVideo() {
  const videoId = $("player").dataset.video;
  if (!videoId) return;
  $("status").textContent = "summarizing...";
  try {
    const body = await getJSON(`/videos/${encodeURIComponent(videoId)}/summary`);
    $("answer").textContent = body.summary;
    $("status").textContent = `summary from ${body.levels.join(" -> ")} lines, ${body.model_calls} model calls`;
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
}

function watchAlerts() {
  if (!window.EventSource) return;
  const feed = new EventSource(media("/alerts/stream?after_id=" + (Number(localStorage.lastAlert) || 0)));
  feed.addEventListener("alert", (e) => {
    const alert = JSON.parse(e.data);
    localStorage.lastAlert = alert.id;
    const line = document.createElement("div");
    line.textContent = `ALERT "${alert.query}": ${alert.video.split("/").pop()} ${hhmmss(alert.start_s)} ${alert.text}`;
    $("alerts").prepend(line);
  });
}

async function play(hit) {
  const player = $("player");
  const base = `/videos/${encodeURIComponent(hit.video_id)}`;
  if (player.dataset.video !== hit.video_id) {
    player.replaceChildren();
    player.src = media(`${base}/stream`);
    const track = document.createElement("track");
    track.kind = "captions";
    track.label = "vidseek";
    track.srclang = "en";
    track.src = media(`${base}/captions.vtt`);
    track.default = true;
    player.appendChild(track);
    player.dataset.video = hit.video_id;
    $("summarize").classList.add("shown");
    drawTimeline(await getJSON(base));
  }
  const seek = () => {
    player.currentTime = hit.start_s;
    if (player.textTracks[0]) player.textTracks[0].mode = "showing";
    player.play().catch(() => {});
  };
  if (player.readyState >= 1) seek();
  else player.addEventListener("loadedmetadata", seek, { once: true });
  $("status").textContent = `${hit.video.split("/").pop()} from ${hhmmss(hit.start_s)}`;
}

function drawTimeline(video) {
  const strip = $("timeline");
  strip.replaceChildren();
  const duration = video.duration_s || 1;
  for (const ev of video.events) {
    const mark = document.createElement("div");
    mark.className = "event";
    mark.style.left = `${(100 * ev.start_s) / duration}%`;
    mark.style.width = `${Math.max(0.5, (100 * (ev.end_s - ev.start_s)) / duration)}%`;
    mark.title = `${hhmmss(ev.start_s)} ${ev.label}: ${ev.text}`;
    mark.addEventListener("click", () => { $("player").currentTime = ev.start_s; });
    strip.appendChild(mark);
  }
  const cursor = document.createElement("div");
  cursor.className = "cursor";
  strip.appendChild(cursor);
  $("player").ontimeupdate = () => { cursor.style.left = `${(100 * $("player").currentTime) / duration}%`; };
}

$("q").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target.value.trim()) search(e.target.value.trim()); });
$("ask").addEventListener("click", () => { if ($("q").value.trim()) ask($("q").value.trim()); });
$("summarize").addEventListener("click", summarizeVideo);
$("more").addEventListener("click", () => { if (nextPage) search(nextPage.query, nextPage.offset); });
$("image").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) searchImage(file, file.name);
});
for (const id of ["video", "kind", "label", "after", "before", "grouped", "modality"]) {
  $(id).addEventListener("change", () => { if ($("q").value.trim()) search($("q").value.trim()); });  // re-run
}
$("video").addEventListener("focus", loadVideos);
$("key").addEventListener("change", loadVideos);
loadVideos();
watchAlerts();
