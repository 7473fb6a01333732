"""What serving a page costs training, and the two things that keep it small.

1. The page's first script. Gradio's status tracker counts elapsed time on every animation frame,
   60 times a second, for as long as it thinks something is pending, and the tracker of the app
   itself does so for good: an idle page in headless Chromium cost 7% of a core that way (0.69
   CPU seconds in 10 s; 0.05 with this script). The tracker takes its `requestAnimationFrame`
   when its module loads, so the replacement must be in place before any of Gradio's scripts run;
   `launch(head=...)` is added later, by the page itself. Hence an ASGI middleware that writes the
   script at the top of the page's <head>. The tracker's frames then come twice a second; any
   other animation frame (plotly's, for zooming) is left as it is.
2. The page's own torch work on one thread. OpenMP gives each OS thread that runs parallel work
   its own team of threads and keeps it while that thread lives, and the server's worker threads
   live on. With a second team on two cores, training on the main thread ran 15-20% slower for the
   rest of the run (CPU preset: 7,000 -> 5,800 tokens/s), even after a single 1000 x 1000 matmul
   in a pooled thread, and even when that matmul came before training started. Loading the Sample
   tab's model at the first checkpoint was enough. One thread makes no team, so every handler
   runs its torch work on one thread (`on_one_thread`): sampling the default recipe in int8 then
   gives 451 tokens/s here instead of 642 on two, and training keeps its speed. Timing a training
   step for the Train tab's estimates must see the cores training gets, so it runs `on_all_cores`:
   in a thread of its own that ends with it, and its team with it.
"""

from __future__ import annotations

import functools
import inspect
import threading

import torch

from gpt.device import use_cpu_cores

STATUS_TRACKER_FRAME_SECONDS = 0.5

FIRST_SCRIPT = f"""<script>
(() => {{
  const nextFrame = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => {{
    if ((new Error().stack || "").includes("statustracker")) {{
      return setTimeout(() => callback(performance.now()), {STATUS_TRACKER_FRAME_SECONDS * 1000:.0f});
    }}
    return nextFrame(callback);
  }};
}})();
</script>"""


class FirstScriptMiddleware:
    """Writes FIRST_SCRIPT right after <head> in every HTML page the app serves."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start, chunks = None, []

        async def send_with_script(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = False  # not a page: passed on as it comes
                    await send(message)
                    return
                start = message
                return
            if start is False:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks).replace(b"<head>", b"<head>" + FIRST_SCRIPT.encode(), 1)
            headers = [(name, value) for name, value in start.get("headers") or [] if name != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_with_script)


def on_one_thread(function):
    """`function` (plain, async, generator or async generator, as Gradio calls them), wrapped so that
    the thread that runs it, or resumes it, does its torch work on one thread."""
    if inspect.isasyncgenfunction(function):
        async def wrapper(*args, **kwargs):
            stream = function(*args, **kwargs)
            try:
                while True:
                    _one_thread()
                    try:
                        item = await stream.__anext__()
                    except StopAsyncIteration:
                        return
                    yield item
            finally:
                await stream.aclose()
    elif inspect.isgeneratorfunction(function):
        def wrapper(*args, **kwargs):
            stream = function(*args, **kwargs)
            try:
                while True:
                    _one_thread()  # each step may run on another of the server's threads
                    try:
                        item = next(stream)
                    except StopIteration:
                        return
                    yield item
            finally:
                stream.close()
    elif inspect.iscoroutinefunction(function):
        async def wrapper(*args, **kwargs):
            _one_thread()
            return await function(*args, **kwargs)
    else:
        def wrapper(*args, **kwargs):
            _one_thread()
            return function(*args, **kwargs)
    return functools.update_wrapper(wrapper, function)  # Gradio reads the signature through __wrapped__


def _one_thread() -> None:
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def run_handlers_on_one_thread(demo) -> None:
    """Every event handler of the app, wrapped with `on_one_thread` (the training thread sets its own count)."""
    for block_function in demo.fns.values():
        if block_function.fn is not None and not hasattr(block_function.fn, "__wrapped__"):
            block_function.fn = on_one_thread(block_function.fn)


def on_all_cores(function, *args):
    """function(*args) in a thread of its own that uses this process's cores, and is gone afterwards."""
    outcome = {}

    def run():
        use_cpu_cores()
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # raised again in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="on-all-cores")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
