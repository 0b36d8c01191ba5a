// The search page: results as cards; a click plays the video from the moment's start with captions on,
// and the strip under the player marks the video's events. The API key goes in a header on the page's own
// requests and as ?key= on media URLs, since <video>, <img> and <track> cannot send headers.
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

async function getJSON(url) {
  const response = await fetch(url, { headers: headers() });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function search(query) {
  $("status").textContent = "searching...";
  try {
    const body = await getJSON(`/search?q=${encodeURIComponent(query)}&k=12`);
    renderResults(body.results);
    $("status").textContent = `${body.results.length} results`;
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
}

function renderResults(results) {
  const list = $("results");
  list.innerHTML = "";
  results.forEach((hit, rank) => {
    const card = document.createElement("article");
    card.className = "card";
    card.dataset.rank = rank;
    card.dataset.start = hit.start_s;
    const name = hit.video.split("/").pop();
    card.innerHTML = `<img alt="" loading="lazy" src="${media(`/videos/${hit.video_id}/thumbnail?t=${hit.start_s.toFixed(2)}`)}">
      <div><div class="meta">${name} · ${hhmmss(hit.start_s)}-${hhmmss(hit.end_s)} · ${hit.score.toFixed(3)} · ${hit.kind}</div>
      <div class="text"></div></div>`;
    card.querySelector(".text").textContent = hit.text;
    card.addEventListener("click", () => play(hit));
    list.appendChild(card);
  });
}

async function play(hit) {
  const player = $("player");
  const base = `/videos/${hit.video_id}`;
  if (player.dataset.video !== hit.video_id) {
    player.innerHTML = "";
    player.src = media(`${base}/stream`);
    const track = document.createElement("track");
    track.kind = "captions";
    track.label = "vidseek";
    track.srclang = "en";
    track.src = media(`${base}/captions.vtt`);
    track.default = true;
    player.appendChild(track);
    player.dataset.video = hit.video_id;
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
  strip.innerHTML = "";
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
