"""``chainrule book SRC --serve``: the built site on this machine, rebuilt and reloaded on save.

A thread polls the lesson files (their modification times and sizes, twice a second) and
rebuilds what changed; each served page gets a small script that asks ``/_book/version``
once a second and reloads when the build number moves (or shows the build error: the
lesson file, line and reason). Only the preview adds that script; the built files hold none.
"""
from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["serve", "create_preview_app", "Watcher", "RELOAD_SCRIPT"]

RELOAD_SCRIPT = """<script>(function () {
  let seen = null;
  const box = document.createElement("div");
  box.setAttribute("role", "alert");
  box.style.cssText = "position:fixed;left:1rem;right:1rem;bottom:1rem;z-index:99;background:#fff4f2;color:#7a1b10;" +
    "border:2px solid #9b2c1f;border-radius:8px;padding:.7rem 1rem;font:14px/1.4 system-ui,sans-serif;display:none";
  document.addEventListener("DOMContentLoaded", () => document.body.appendChild(box));
  async function poll() {
    try {
      const r = await fetch("/_book/version", {cache: "no-store"});
      const v = await r.json();
      if (seen !== null && v.build !== seen && !v.error) location.reload();
      seen = v.build;
      box.style.display = v.error ? "block" : "none";
      box.textContent = v.error ? "chainrule book: the last save did not build: " + v.error : "";
    } catch (e) { /* the preview stopped: try again */ }
    setTimeout(poll, 1000);
  }
  poll();
})();</script>"""


def _snapshot(src: Path) -> tuple:
    out = []
    for p in sorted(src.glob("*")):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


class Watcher:
    """Rebuilds the site when a lesson file changes; ``build`` counts the builds, ``error`` holds the last failure."""

    def __init__(self, src, out, course=None, interval: float = 0.5, log=print):
        self.src, self.out, self.course, self.interval, self.log = Path(src), Path(out), course, interval, log
        self.build, self.error = 1, None
        self._seen = _snapshot(self.src)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chainrule-book-watch", daemon=True)

    def start(self) -> "Watcher":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> bool:
        """Rebuild if anything changed since the last look; True if a build ran."""
        from ..errors import ChainruleError
        from .site import build_book
        now = _snapshot(self.src)
        if now == self._seen:
            return False
        self._seen = now
        try:
            report = build_book(self.src, self.out, course=self.course)
        except ChainruleError as e:
            self.error = " ".join(str(e).split())
            self.log(f"chainrule book: error: {self.error}")
            return True
        self.error = None
        self.build += 1
        self.log(f"chainrule book: {report.line()}")
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()


def create_preview_app(out, watcher: Watcher):
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    root = Path(out).resolve()

    async def version(request):
        return JSONResponse({"build": watcher.build, "error": watcher.error}, headers={"Cache-Control": "no-store"})

    async def page(request):
        from .site import site_file
        target = site_file(root, request.path_params.get("path", ""))
        if target is None:
            return Response("not found", status_code=404)
        if target.suffix == ".html":
            html = target.read_text(encoding="utf-8").replace("</body>", RELOAD_SCRIPT + "\n</body>", 1)
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})
        return FileResponse(target, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/_book/version", version), Route("/", page), Route("/{path:path}", page)])


def serve(src, out, *, host: str = "127.0.0.1", port: int = 8001, course=None) -> int:
    try:
        import uvicorn
    except ImportError:
        from ..errors import InputError
        raise InputError('--serve needs Starlette and uvicorn: pip install "chainrule[web]"') from None
    watcher = Watcher(src, out, course).start()
    print(f"chainrule book: previewing {out} at http://{host}:{port}/ (rebuilds on save; Ctrl+C stops)")
    try:
        uvicorn.run(create_preview_app(out, watcher), host=host, port=port, log_level="warning")
    finally:
        watcher.stop()
    return 0

