"""ui.page_cost: the page's first script is written into the app's HTML pages (nothing else changes), and
every handler runs its torch work on one thread."""

from __future__ import annotations

import asyncio
import inspect

from ui.page_cost import FIRST_SCRIPT, FirstScriptMiddleware, on_one_thread

PAGE = b"<!doctype html><html><head><meta charset='utf-8'><script type=module src=app.js></script></head></html>"


def serve(path: str, method: str, content_type: bytes, chunks: list[bytes]) -> tuple[dict, bytes]:
    """Run one request through the middleware in front of an app answering `chunks`; return headers and body."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type),
                                (b"content-length", str(sum(map(len, chunks))).encode())]})
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    scope = {"type": "http", "method": method, "path": path}
    asyncio.run(FirstScriptMiddleware(app)(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return headers, b"".join(message.get("body", b"") for message in sent[1:])


def test_an_html_page_gets_the_script_first_in_its_head():
    headers, body = serve("/", "GET", b"text/html; charset=utf-8", [PAGE[:40], PAGE[40:]])
    assert body.startswith(b"<!doctype html><html><head>" + FIRST_SCRIPT.encode() + b"<meta")
    assert body.count(b"statustracker") == 1
    assert body.index(FIRST_SCRIPT.encode()) < body.index(b"app.js")  # before any of Gradio's scripts
    assert int(headers[b"content-length"]) == len(body)


def test_other_responses_pass_unchanged():
    for method, content_type in (("GET", b"application/json"), ("POST", b"text/html")):
        headers, body = serve("/config", method, content_type, [PAGE])
        assert body == PAGE and int(headers[b"content-length"]) == len(PAGE)


def threads_seen_by(function, *args) -> list[int]:
    """Run `function` on a fresh thread whose torch default is two threads; the counts it saw at each step."""
    import threading

    import torch

    seen = []

    def run():
        torch.set_num_threads(2)
        try:
            collect(function(*args))
        finally:
            torch.set_num_threads(1)  # the suite's own count again, for the threads that come after

    def collect(result):
        # Between two steps of a stream the count goes back to two, as on another of the server's threads.
        if inspect.isgenerator(result):
            for item in result:
                seen.append(item)
                torch.set_num_threads(2)
        elif inspect.isasyncgen(result):
            async def drain():
                async for item in result:
                    seen.append(item)
                    torch.set_num_threads(2)
            asyncio.run(drain())
        elif inspect.iscoroutine(result):
            seen.append(asyncio.run(result))
        else:
            seen.append(result)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen


def test_every_kind_of_handler_runs_its_torch_work_on_one_thread():
    import torch

    def plain(request=None):
        return torch.get_num_threads()

    async def coroutine(request=None):
        return torch.get_num_threads()

    def generator(count, request=None):
        for _ in range(count):
            yield torch.get_num_threads()

    async def async_generator(count, request=None):
        for _ in range(count):
            yield torch.get_num_threads()

    assert threads_seen_by(plain) == [2]  # the check can fail: unwrapped, the thread has two
    assert threads_seen_by(generator, 2) == [2, 2]
    assert threads_seen_by(on_one_thread(plain)) == [1]
    assert threads_seen_by(on_one_thread(coroutine)) == [1]
    assert threads_seen_by(on_one_thread(generator), 3) == [1, 1, 1]
    assert threads_seen_by(on_one_thread(async_generator), 3) == [1, 1, 1]
    # What Gradio reads of a handler stays the same: its kind, name and parameters.
    for function in (plain, coroutine, generator, async_generator):
        wrapped = on_one_thread(function)
        assert wrapped.__name__ == function.__name__
        assert inspect.signature(wrapped) == inspect.signature(function)
        for kind in (inspect.iscoroutinefunction, inspect.isgeneratorfunction, inspect.isasyncgenfunction):
            assert kind(wrapped) == kind(function)


def test_a_closed_stream_closes_the_handlers_own():
    closed = []

    def stream():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    wrapped = on_one_thread(stream)()
    assert next(wrapped) == 1
    wrapped.close()  # what Gradio does when the page goes away
    assert closed == [True]


def test_every_handler_of_the_app_is_wrapped(tmp_path):
    import app as app_module
    from ui.storage import Storage

    _, demo = app_module.create_app(Storage(tmp_path), calibrate=False)
    handlers = [block_function.fn for block_function in demo.fns.values() if block_function.fn is not None]
    assert len(handlers) > 20
    assert all(hasattr(handler, "__wrapped__") for handler in handlers)


def test_timing_a_step_runs_on_all_cores_in_a_thread_that_ends(monkeypatch):
    """The Train tab's step-time estimates must see the cores training gets, without leaving a team behind."""
    import os
    import threading

    import torch

    from ui.page_cost import on_all_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # as in `python app.py`: gpt.device picks the count
    seen = []

    def record(value):
        seen.append((torch.get_num_threads(), threading.current_thread()))
        return value * 2

    try:
        assert on_all_cores(record, 21) == 42
        threads, thread = seen[0]
        assert threads == max(1, os.cpu_count() or 1)
        assert thread is not threading.current_thread() and not thread.is_alive()
        try:
            on_all_cores(int, "not a number")
        except ValueError as error:  # raised again where it was called
            assert "not a number" in str(error)
        else:
            raise AssertionError("the error was lost")
    finally:
        torch.set_num_threads(1)  # the suite's own count again
