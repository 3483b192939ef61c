/*! contentsvc browser SDK 1.1.0 — renders segment-targeted in-app content.
 *
 * The host page stays intact whatever happens here: the segment call has a
 * short timeout (what the user saw last, then the `everyone` segment, stand
 * in for it), manifests and content come from the CDN and are kept in
 * localStorage (the last version seen stands in when the CDN fails), each
 * component renders inside an error boundary, errors go to the tracking
 * endpoint, and an error no boundary expected stops the SDK: it removes
 * what it drew and renders nothing, as if it had never been installed.
 *
 * What it did is written on the slot for checks and developers:
 *   data-content-level   fresh | cached | default | empty
 *   data-content-errors  errors contained during the render
 *   data-content-killed  "true" once the kill switch tripped
 * and kept in ContentSDK.last ({level, segments, items, errors, steps}).
 *
 * With the application's client key (init's `key`), each render (the level
 * that served, how long it took) and each error a boundary caught is also
 * an event for contentsvc's intake (/v1/events): queued in localStorage
 * with an id made when it happens, sent in batches (sendBeacon as the page
 * goes away, fetch with keepalive otherwise) and kept until taken, so that
 * events made offline or while the intake is away go when it is back.
 *
 *   <div id="in-app-content"></div>
 *   <script src="https://cs.example.com/sdk/v1/contentsvc-1.0.0.js"></script>
 *   <script>ContentSDK.init({base: "https://cs.example.com", slot: "#in-app-content", user: "alice"})</script>
 */
(function (global) {
  "use strict";

  var VERSION = "1.1.0";
  var PREFIX = "contentsvc:v1:";
  var LEVELS = ["fresh", "cached", "default", "empty"];
  var script = global.document && global.document.currentScript;
  var scriptSrc = script ? script.src : "";

  function worse(a, b) { return LEVELS.indexOf(b) > LEVELS.indexOf(a) ? b : a; }

  // Storage that never throws: private modes and full quotas only cost the
  // cache, and a corrupt entry reads as missing.
  var store = {
    get: function (key) {
      try {
        var raw = global.localStorage.getItem(PREFIX + key);
        return raw === null ? null : JSON.parse(raw);
      } catch (e) { return null; }
    },
    set: function (key, value) {
      try { global.localStorage.setItem(PREFIX + key, JSON.stringify(value)); } catch (e) { /* cache only */ }
    }
  };

  // getJSON fetches url within timeoutMs; it rejects on a network error, a
  // timeout or a status other than 200 (err.status tells which).
  function getJSON(url, timeoutMs) {
    var ctl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, timeoutMs);
    return fetch(url, { signal: ctl ? ctl.signal : undefined, credentials: "omit" }).then(function (resp) {
      if (resp.status !== 200) {
        var err = new Error("GET " + url + ": status " + resp.status);
        err.status = resp.status;
        throw err;
      }
      return resp.json();
    }).then(function (v) { clearTimeout(timer); return v; }, function (err) {
      clearTimeout(timer);
      if (err && err.name === "AbortError") err = new Error("GET " + url + ": no answer in " + timeoutMs + " ms");
      throw err;
    });
  }

  function text(el, tag, className, value) {
    var node = global.document.createElement(tag);
    node.className = className;
    node.textContent = value;
    el.appendChild(node);
    return node;
  }

  // renderBlock draws one block of an item: text, a link (http or https
  // only) or an image. A block of a type this version does not know (one
  // published for a newer SDK) throws, and the item's boundary holds.
  function renderBlock(el, b) {
    switch (b.type) {
      case "text":
        text(el, "p", "cs-text", String(b.text));
        return;
      case "link":
        if (!/^https?:\/\//.test(b.href)) throw new Error("link block: href " + JSON.stringify(b.href) + " is not http(s)");
        var a = text(el, "a", "cs-link", String(b.label));
        a.href = b.href;
        a.rel = "noopener";
        return;
      case "image":
        if (!/^https?:\/\//.test(b.src)) throw new Error("image block: src " + JSON.stringify(b.src) + " is not http(s)");
        var img = global.document.createElement("img");
        img.className = "cs-image";
        img.src = b.src;
        img.alt = String(b.alt || "");
        el.appendChild(img);
        return;
      default:
        throw new Error("unknown block type " + JSON.stringify(b.type));
    }
  }

  // renderItem draws one content item: its title, its body, its blocks.
  function renderItem(item) {
    var el = global.document.createElement("section");
    el.className = "cs-item";
    el.setAttribute("data-content-id", item.id);
    el.setAttribute("data-content-version", String(item.version));
    text(el, "h3", "cs-title", String(item.title));
    if (item.body !== undefined) text(el, "p", "cs-body", String(item.body));
    var blocks = item.blocks || [];
    for (var i = 0; i < blocks.length; i++) renderBlock(el, blocks[i]);
    return el;
  }

  function Client(o) {
    if (!o || !o.base) throw new Error("ContentSDK.init: base is required");
    this.base = String(o.base).replace(/\/+$/, "");
    this.cdn = String(o.cdn || o.base).replace(/\/+$/, "");
    this.user = String(o.user || "anonymous");
    this.attrs = o.attrs || {};
    this.segmentTimeout = o.segmentTimeoutMs || 300;
    this.cdnTimeout = o.cdnTimeoutMs || 2000;
    this.track = o.track === undefined ? this.base + "/v1/errors" : o.track;
    this.key = o.key ? String(o.key) : "";
    this.intake = o.events === undefined ? this.base + "/v1/events" : o.events;
    this.country = /^[A-Z]{2}$/.test(String(o.country || "")) ? String(o.country) : "";
    this.slot = typeof o.slot === "string" ? global.document.querySelector(o.slot) : o.slot;
    this.killed = false;
    this.drawn = [];
  }

  // Events: queued in localStorage (at most MAX_QUEUED, the oldest go
  // first), sent MAX_BATCH at a time, removed once the intake took them.
  var QUEUE = "events", MAX_QUEUED = 500, MAX_BATCH = 100;

  function newID() {
    if (global.crypto && global.crypto.randomUUID) return global.crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  Client.prototype.emit = function (ev) {
    if (!this.key || !this.intake) return;
    ev.id = newID();
    ev.at = new Date().toISOString();
    ev.user = this.user.slice(0, 64);
    ev.sdk = "contentsvc-js/" + VERSION;
    if (this.country) ev.country = this.country;
    var q = store.get(QUEUE) || [];
    q.push(ev);
    store.set(QUEUE, q.slice(-MAX_QUEUED));
    this.flush(false);
  };

  // flush sends the oldest queued events; beacon (the page going away)
  // hands them to the browser, which sends them after the page is gone,
  // and keeps them: no answer comes back, so the next page sends them
  // again, and the intake counts each id once.
  Client.prototype.flush = function (beacon) {
    var self = this;
    if (!this.key || !this.intake || this.sending) return;
    var q = store.get(QUEUE) || [];
    if (q.length === 0) return;
    var batch = q.slice(0, MAX_BATCH);
    var body = new Blob([JSON.stringify({ key: this.key, events: batch })], { type: "text/plain" });
    var sent = {};
    batch.forEach(function (e) { sent[e.id] = true; });
    var drop = function () {
      store.set(QUEUE, (store.get(QUEUE) || []).filter(function (e) { return !sent[e.id]; }));
    };
    try {
      if (beacon) {
        if (global.navigator.sendBeacon) global.navigator.sendBeacon(this.intake, body);
        return;
      }
      this.sending = true;
      fetch(this.intake, { method: "POST", body: body, keepalive: true, credentials: "omit" }).then(function (resp) {
        self.sending = false;
        // Taken (202), or refused as it is (400, 413): either way not sent
        // again; 429 and 5xx keep them for later.
        if (resp.status === 202 || resp.status === 400 || resp.status === 413) {
          drop();
          self.flush(false);
        }
      }, function () { self.sending = false; });
    } catch (e) { this.sending = false; /* reporting never harms the page */ }
  };

  Client.prototype.report = function (err, where) {
    this.emit({ type: "error", error: {
      message: String(err && err.message || err).slice(0, 250) || "error", stack: String(err && err.stack || "").slice(0, 2000),
      component: String(where || "").slice(0, 60), browser: String(global.navigator.userAgent || "").slice(0, 60),
      url: String(global.location && global.location.href || "").slice(0, 250) } });
    var ev = {
      id: (global.crypto && global.crypto.randomUUID) ? global.crypto.randomUUID() : String(Date.now()) + Math.random(),
      type: "error", where: where, message: String(err && err.message || err).slice(0, 1000),
      stack: String(err && err.stack || "").slice(0, 4000), sdk_version: VERSION,
      page: String(global.location && global.location.href || "").slice(0, 1000), at: new Date().toISOString()
    };
    if (!this.track) return;
    try {
      // text/plain: a simple request, no preflight; contentsvc reads JSON.
      var body = new Blob([JSON.stringify(ev)], { type: "text/plain" });
      if (!(global.navigator.sendBeacon && global.navigator.sendBeacon(this.track, body))) {
        fetch(this.track, { method: "POST", body: body, keepalive: true, credentials: "omit" }).catch(function () {});
      }
    } catch (e) { /* reporting never harms the page */ }
  };

  // kill removes everything the SDK drew and stops it.
  Client.prototype.kill = function (err, where) {
    if (this.killed) return;
    this.killed = true;
    for (var i = 0; i < this.drawn.length; i++) {
      var n = this.drawn[i];
      if (n.parentNode) n.parentNode.removeChild(n);
    }
    this.drawn = [];
    if (this.slot) {
      this.slot.setAttribute("data-content-level", "empty");
      this.slot.setAttribute("data-content-killed", "true");
    }
    this.report(err, where || "sdk");
  };

  Client.prototype.segments = function (r) {
    var q = "user_id=" + encodeURIComponent(this.user);
    for (var k in this.attrs) {
      if (Object.prototype.hasOwnProperty.call(this.attrs, k)) q += "&" + encodeURIComponent(k) + "=" + encodeURIComponent(this.attrs[k]);
    }
    var self = this, start = Date.now();
    return getJSON(this.base + "/v1/segments?" + q, this.segmentTimeout).then(function (v) {
      if (!v || !Array.isArray(v.segments) || v.segments.length === 0) throw new Error("segments of " + self.user + ": empty answer");
      store.set("segments:" + self.user, v.segments);
      return v.segments;
    }).catch(function (err) {
      r.errors.push("segments: " + err.message);
      var cached = store.get("segments:" + self.user);
      if (Array.isArray(cached) && cached.length) { r.level = worse(r.level, "cached"); return cached; }
      r.level = worse(r.level, "default");
      return ["everyone"];
    }).then(function (segs) { r.steps.segments = Date.now() - start; return segs; });
  };

  Client.prototype.manifest = function (segment, r) {
    return getJSON(this.cdn + "/cdn/manifests/" + encodeURIComponent(segment) + ".json", this.cdnTimeout).then(function (m) {
      store.set("manifest:" + segment, m);
      return m;
    }).catch(function (err) {
      if (err.status === 404) return null; // nothing published to it
      r.errors.push("manifest " + segment + ": " + err.message);
      var cached = store.get("manifest:" + segment);
      if (cached) { r.level = worse(r.level, "cached"); return cached; }
      return null;
    });
  };

  Client.prototype.item = function (id, path, r) {
    var last = store.get("item:" + id);
    if (last && this.cdn + path === last.url) return Promise.resolve(last.doc); // versions are immutable
    var self = this;
    return getJSON(this.cdn + path, this.cdnTimeout).then(function (doc) {
      if (!last || !(doc.version < last.doc.version)) store.set("item:" + id, { url: self.cdn + path, doc: doc });
      return doc;
    }).catch(function (err) {
      r.errors.push("content " + id + ": " + err.message);
      if (last) { r.level = worse(r.level, "cached"); return last.doc; }
      return null;
    });
  };

  // render fetches and draws; it resolves to what it did and never rejects.
  Client.prototype.render = function () {
    var self = this;
    var r = { level: "fresh", segments: [], items: [], errors: [], contained: 0, steps: {}, version: VERSION };
    if (!this.slot) return Promise.resolve(Object.assign(r, { level: "empty", errors: ["no slot"] }));
    var start = Date.now();
    return this.segments(r).then(function (segs) {
      r.segments = segs;
      var t = Date.now();
      return Promise.all(segs.map(function (s) { return self.manifest(s, r); })).then(function (ms) {
        r.steps.manifest = Date.now() - t;
        var newest = {};
        ms.forEach(function (m) {
          if (!m || !Array.isArray(m.content)) return;
          m.content.forEach(function (e) {
            if (!newest[e.id] || e.version > newest[e.id].version) newest[e.id] = e;
          });
        });
        var ids = Object.keys(newest).sort();
        t = Date.now();
        return Promise.all(ids.map(function (id) { return self.item(id, newest[id].url, r); })).then(function (docs) {
          r.steps.content = Date.now() - t;
          return docs.filter(function (d) { return d; });
        });
      });
    }).then(function (docs) {
      if (self.killed) return r;
      self.draw(docs, r);
      if (r.items.length === 0) r.level = "empty";
      r.steps.total = Date.now() - start;
      return r;
    }).catch(function (err) {
      self.kill(err, "render");
      r.level = "empty";
      r.errors.push("stopped: " + err.message);
      return r;
    }).then(function (res) {
      self.mark(res);
      self.emit({ type: "render", render: { level: res.level, duration_ms: Date.now() - start,
        segment: String(res.segments[res.segments.length - 1] || "").slice(0, 60) } });
      return res;
    });
  };

  // draw puts each item in the slot behind an error boundary of its own.
  Client.prototype.draw = function (docs, r) {
    var box = global.document.createElement("div");
    box.className = "cs-content";
    for (var i = 0; i < docs.length; i++) {
      try {
        box.appendChild(renderItem(docs[i]));
        r.items.push({ id: docs[i].id, version: docs[i].version });
      } catch (err) {
        r.contained++;
        r.errors.push("component " + docs[i].id + ": " + err.message);
        this.report(err, "component " + docs[i].id);
      }
    }
    while (this.slot.firstChild) this.slot.removeChild(this.slot.firstChild);
    if (r.items.length > 0) {
      this.slot.appendChild(box);
      this.drawn.push(box);
    }
  };

  Client.prototype.mark = function (r) {
    if (!this.slot) return;
    this.slot.setAttribute("data-content-level", r.level);
    this.slot.setAttribute("data-content-errors", String(r.errors.length));
    this.slot.setAttribute("data-content-contained", String(r.contained));
  };

  var current = null;
  var SDK = {
    version: VERSION,
    last: null,
    // init renders into the slot and resolves to what it did; it never
    // throws and never rejects.
    init: function (o) {
      try {
        current = new Client(o);
      } catch (err) {
        SDK.last = { level: "empty", segments: [], items: [], errors: [err.message], contained: 0, steps: {}, version: VERSION };
        return Promise.resolve(SDK.last);
      }
      return current.render().then(function (r) {
        SDK.last = r;
        return r;
      });
    }
  };

  // An error no boundary caught, thrown from the SDK's own code, trips the
  // kill switch; the page's own errors are none of its business.
  global.addEventListener("error", function (ev) {
    if (current && scriptSrc && ev.filename === scriptSrc) {
      ev.preventDefault();
      current.kill(ev.error || new Error(ev.message), "uncaught");
    }
  }, true);

  // Queued events go when the network is back, and as the page goes away.
  global.addEventListener("online", function () { if (current) current.flush(false); });
  global.addEventListener("pagehide", function () { if (current) current.flush(true); });

  global.ContentSDK = SDK;
})(window);
