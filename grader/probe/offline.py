"""Offline stand-ins (kernel side): image searches, crawlers and downloads answered from the asset cache, and a
virtual clock for the sleeps crawl code makes between requests.

Grading kernels have no network, so a notebook's crawl cell would fail and everything after it with it. The
stand-ins keep the student's pipeline running on images the grader holds:

- image searches (`duckduckgo_search`'s `ddg_images` and `DDGS().images`, fastbook's `search_images_ddg` and
  `search_images_bing`) answer with up to IMAGES_PER_SEARCH addresses of crawl images, the keyword's class
  chosen by `CrawlImages.class_of`;
- crawlers that save files themselves (`bing_image_downloader`, `icrawler`'s Google, Bing, Baidu and Flickr
  crawlers) and fastai's `download_images` copy crawl images into the folder the student named, unless it
  already holds images the student submitted (those win);
- URL reads through `urllib` (`urlopen`, `urlretrieve`, `pd.read_csv(url)`, fastdownload, fastai) and `requests`
  get the bytes of crawl addresses and of the URLs cached by `grader assets fetch`; any other URL fails as it
  would offline, with an error naming it.

Events, on the recorder's file:

- ``search``: api, keyword, asked (results asked for, or null), given, cls (0 for class A, 1 for B).
- ``download``: api, dest (relative to the notebook's folder), written, kept (the folder held the student's own
  images, so nothing was written), keyword when the call names one.
- ``url``: api, url, served ("cache" or "refused"); crawl addresses are counted in ``download`` events instead.
- ``crawl_images``: once, when the first search or crawl asks: the asset's status, its classes, or why none.
- ``clock``: at the end of a cell whose code slept: sleeps and seconds skipped so far.
"""

from __future__ import annotations

import email.message
import functools
import hashlib
import importlib
import importlib.util
import io
import json
import os
import re
import shutil
import threading
import time
import types
import urllib.error
import urllib.request
import urllib.response
import uuid
from pathlib import Path
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from grader.probe.imports import StandInModules, patch_when_imported
from grader.probe.vision import relative_path
from grader.probe.protocol import CRAWL_ASSET, DOWNLOADS_FOLDER, DOWNLOADS_INDEX, MANIFEST_FILE

IMAGES_PER_SEARCH = 20  # each search answers at most this many images: training on them must fit a CPU's time
CRAWL_HOST = "crawl.grader.invalid"  # `.invalid` never resolves (RFC 2606): no real address is shadowed
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_URL_EVENTS = 200
# Sleeps beyond this many skipped seconds wait for real: a polling loop (`while True: time.sleep(1)`) must not spin
# the CPU until its cell's time limit.
VIRTUAL_SLEEP_LIMIT_S = 3600.0
# Shorter sleeps wait for real: they are libraries polling (a skipped one would turn the poll into a busy loop).
SHORTEST_VIRTUAL_SLEEP_S = 0.1
_WORD = re.compile(r"[\s\W_]+")


class CrawlImages:
    """The crawl asset's images, and which class each keyword gets: keywords whose first word is the same share a
    class ("dog" and "dog photo"), other keywords take the classes in turn (first A, then B, then A again)."""

    def __init__(self, root: Path | None, status: str | None) -> None:
        folder = root / CRAWL_ASSET if root is not None else None
        self.classes: list[list[Path]] = []
        self.class_names: list[str] = []
        if folder is not None and folder.is_dir():
            for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
                images = sorted(p for p in class_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                if images:
                    self.classes.append(images)
                    self.class_names.append(class_folder.name)
        self.status = status if self.classes else None
        self.keys: dict[str, int] = {}
        self.handed_out = [0] * len(self.classes)  # per class: the next image's index, so searches differ

    def class_of(self, keyword: str) -> int:
        words = [word for word in _WORD.split(keyword.casefold()) if word]
        key = words[0] if words else keyword
        if key not in self.keys:
            self.keys[key] = len(self.keys) % len(self.classes)
        return self.keys[key]

    def take(self, cls: int, count: int) -> list[int]:
        """The indices of the next `count` images of a class (wrapping round when a class runs out)."""
        start = self.handed_out[cls]
        self.handed_out[cls] += count
        return list(range(start, start + count))

    def image(self, cls: int, index: int) -> Path:
        images = self.classes[cls]
        return images[index % len(images)]


def crawl_url(keyword: str, cls: int, index: int) -> str:
    return f"https://{CRAWL_HOST}/{cls}/{quote(keyword, safe='')}/{index:05d}.jpg"


def _parse_crawl_url(url: str) -> tuple[int, str, int] | None:
    parts = urlsplit(url)
    if parts.hostname != CRAWL_HOST:
        return None
    pieces = parts.path.strip("/").split("/")
    if len(pieces) != 3 or not pieces[0].isdigit() or not pieces[2].split(".")[0].isdigit():
        return None
    return int(pieces[0]), unquote(pieces[1]), int(pieces[2].split(".")[0])


def _url_key(url: str) -> str:
    """URLs that name the same resource compare equal: scheme and host in lower case, no fragment."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


class OfflineStandIns:
    """Installs the stand-ins and the virtual clock in a kernel; `recorder` writes their events."""

    def __init__(self, recorder: Any, assets: str | None, virtual_clock: bool) -> None:
        self.recorder = recorder
        self.root = Path(assets) if assets else None  # read-only in the kernel: read when first needed
        self.virtual_clock = virtual_clock
        self.lock = threading.Lock()  # downloads may run in the student's threads
        self.written: set[str] = set()  # files the stand-ins wrote: not the student's own images
        self.url_events = 0
        self.announced = False
        self.slept = 0.0
        self.sleeps = 0
        self.reported_sleeps = 0

    @functools.cached_property
    def crawl(self) -> CrawlImages:
        """Listed when a search or crawl first asks: most notebooks make none."""
        return CrawlImages(self.root, _asset_status(self.root, CRAWL_ASSET))

    @functools.cached_property
    def cached(self) -> dict[str, tuple[Path, str]]:
        """The download cache's index, read when the notebook first reads a URL."""
        return _cached_downloads(self.root)

    def install(self) -> None:
        StandInModules({
            "duckduckgo_search": self.fill_duckduckgo, "ddgs": self.fill_duckduckgo,
            "bing_image_downloader": self.fill_bing_image_downloader,
            "bing_image_downloader.downloader": self.fill_bing_image_downloader,
            "icrawler": self.fill_icrawler, "icrawler.builtin": self.fill_icrawler,
        }).install()
        patches: dict[str, Callable[[Any], None]] = {"fastai.vision.utils": self.patch_fastai, "requests.adapters": self.patch_requests}
        if _importable("fastbook"):
            patches["fastbook"] = self.patch_fastbook
        else:
            StandInModules({"fastbook": self.fill_fastbook}).install()
        patch_when_imported(patches)
        self.patch_urllib()
        if self.virtual_clock:
            self.install_virtual_clock()
            self.recorder.shell.events.register("post_run_cell", self.on_cell_end)

    # -- what the stand-ins hand out ----------------------------------------------

    def search(self, api: str, keyword: Any, asked: Any) -> list[tuple[str, Path]]:
        """(address, image file) for each image a search for `keyword` finds, recorded as a `search` event."""
        keyword = str(keyword)
        asked_count = _count(asked)
        results: list[tuple[str, Path]] = []
        cls = None
        if self.crawl_available():
            cls = self.crawl.class_of(keyword)
            wanted = IMAGES_PER_SEARCH if asked_count is None else min(asked_count, IMAGES_PER_SEARCH)
            results = [(crawl_url(keyword, cls, index), self.crawl.image(cls, index))
                       for index in self.crawl.take(cls, max(wanted, 0))]
        self.recorder.emit({"event": "search", "api": api, "keyword": keyword[:200], "asked": asked_count,
                            "given": len(results), "cls": cls})
        return results

    def crawl_available(self) -> bool:
        if not self.announced:
            self.announced = True
            self.recorder.emit({"event": "crawl_images", "status": self.crawl.status,
                                "classes": self.crawl.class_names,
                                **({} if self.crawl.status else {"why": "the asset cache has no crawl images"})})
        return self.crawl.status is not None

    def serve(self, api: str, url: str) -> tuple[bytes, str] | None:
        """The bytes and content type of `url`, or None when offline it cannot be had (recorded as refused)."""
        crawled = _parse_crawl_url(url)
        if crawled is not None and crawled[0] < len(self.crawl.classes):
            path = self.crawl.image(crawled[0], crawled[2])
            return path.read_bytes(), "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
        entry = self.cached.get(_url_key(url))
        self.emit_url(api, url, "cache" if entry else "refused")
        if entry is None:
            return None
        path, content_type = entry
        return path.read_bytes(), content_type

    def emit_url(self, api: str, url: str, served: str) -> None:
        with self.lock:
            self.url_events += 1
            if self.url_events <= MAX_URL_EVENTS:
                self.recorder.emit({"event": "url", "api": api, "url": url[:500], "served": served})
            elif self.url_events == MAX_URL_EVENTS + 1:
                self.recorder.emit({"event": "overflow", "what": "url"})

    def holds_own_images(self, folder: Path) -> bool:
        """Whether the folder holds images that the stand-ins did not write: the student's own, which win."""
        if not folder.is_dir():
            return False
        return any(p.suffix.lower() in IMAGE_SUFFIXES and str(p.resolve()) not in self.written
                   for p in folder.rglob("*") if p.is_file())

    def put(self, source: Path | bytes, dest: Path) -> None:
        if isinstance(source, Path):
            shutil.copyfile(source, dest)
        else:
            dest.write_bytes(source)
        with self.lock:
            self.written.add(str(dest.resolve()))

    def fill_folder(self, api: str, keyword: str, folder: Path, asked: Any, name: Any) -> int:
        """A crawler that saves files itself: images for `keyword` into `folder`, named by `name(n, suffix)`
        (n from 1), unless the folder holds the student's own images. Returns how many were written."""
        if self.holds_own_images(folder):
            self.recorder.emit({"event": "download", "api": api, "dest": relative_path(str(folder)), "written": 0,
                                "kept": True, "keyword": keyword[:200]})
            return 0
        found = self.search(api, keyword, asked)
        folder.mkdir(parents=True, exist_ok=True)
        for number, (_, image) in enumerate(found, start=1):
            self.put(image, folder / name(number, image.suffix.lower()))
        self.recorder.emit({"event": "download", "api": api, "dest": relative_path(str(folder)), "written": len(found),
                            "kept": False, "keyword": keyword[:200]})
        return len(found)

    # -- duckduckgo_search / ddgs ------------------------------------------------

    def fill_duckduckgo(self, module: types.ModuleType) -> None:
        offline = self

        def results(api: str, keywords: Any, max_results: Any) -> list[dict[str, Any]]:
            import PIL.Image  # here, not as every kernel starts

            found = []
            for n, (url, image) in enumerate(offline.search(api, keywords, max_results)):
                with PIL.Image.open(image) as opened:  # reads the header only
                    width, height = opened.size
                found.append({"title": f"{keywords} {n + 1}", "image": url, "thumbnail": url, "url": url,
                              "height": height, "width": width, "source": "grader crawl stand-in"})
            return found

        def ddg_images(keywords: Any, *args: Any, max_results: Any = None, **kwargs: Any) -> list[dict[str, Any]]:
            return results("ddg_images", keywords, max_results)

        class DDGS:
            """Takes what the real one's constructor does (proxy, timeout, headers) and needs none of it."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self.options = kwargs

            def __enter__(self) -> DDGS:
                return self

            def __exit__(self, *exc: Any) -> None:
                return None

            def images(self, keywords: Any = None, *args: Any, max_results: Any = None, query: Any = None,
                       **kwargs: Any) -> list[dict[str, Any]]:
                return results("DDGS.images", keywords if keywords is not None else query, max_results)

        module.__dict__.update(ddg_images=ddg_images, DDGS=DDGS, __version__="grader-stand-in")

    # -- fastbook ------------------------------------------------------------------

    def fastbook_searches(self) -> dict[str, Any]:
        L = importlib.import_module("fastcore.foundation").L  # fastai's list, as fastbook returns
        offline = self

        def search_images_ddg(term: Any, max_images: Any = 200) -> Any:
            return L(url for url, _ in offline.search("search_images_ddg", term, max_images))

        def search_images_bing(key: Any, term: Any, min_sz: Any = 128, max_images: Any = 150) -> Any:
            return L({"contentUrl": url, "thumbnailUrl": url, "name": str(term)}
                     for url, _ in offline.search("search_images_bing", term, max_images))

        return {"search_images_ddg": search_images_ddg, "search_images_bing": search_images_bing}

    def fill_fastbook(self, module: types.ModuleType) -> None:
        """fastbook where it is not installed: `from fastbook import *` brings fastai.vision.all's names too, as
        the real one does, and `setup_book()` does nothing."""
        fastai_all = importlib.import_module("fastai.vision.all")
        module.__dict__.update({name: value for name, value in vars(fastai_all).items() if not name.startswith("_")})
        module.__dict__.update(self.fastbook_searches(), setup_book=lambda *args, **kwargs: None)

    def patch_fastbook(self, module: Any) -> None:
        module.__dict__.update(self.fastbook_searches())

    # -- bing_image_downloader -------------------------------------------------------

    def fill_bing_image_downloader(self, module: types.ModuleType) -> None:
        offline = self

        def download(query: Any, limit: Any = 100, output_dir: Any = "dataset", adult_filter_off: Any = True,
                     force_replace: Any = False, timeout: Any = 60, filter: Any = "", verbose: Any = True) -> None:
            folder = Path(str(output_dir)) / str(query)
            if force_replace and folder.is_dir() and not offline.holds_own_images(folder):
                shutil.rmtree(folder)
            offline.fill_folder("bing_image_downloader", str(query), folder, limit,
                                lambda number, suffix: f"Image_{number}{suffix}")

        if module.__name__.endswith(".downloader"):
            module.download = download  # type: ignore[attr-defined]
        else:
            downloader = types.ModuleType("bing_image_downloader.downloader")
            downloader.download = download  # type: ignore[attr-defined]
            module.downloader = downloader  # type: ignore[attr-defined]

    # -- icrawler ----------------------------------------------------------------------

    def fill_icrawler(self, module: types.ModuleType) -> None:
        offline = self

        class Crawler:
            api = "icrawler"

            def __init__(self, *args: Any, storage: Any = None, **kwargs: Any) -> None:
                root = storage.get("root_dir", "images") if isinstance(storage, dict) else "images"
                self.root_dir = Path(str(root))

            def crawl(self, keyword: Any = None, *args: Any, max_num: Any = 1000, file_idx_offset: Any = 0,
                      text: Any = None, tags: Any = None, **kwargs: Any) -> None:
                words = keyword if keyword is not None else (text if text is not None else tags)
                first = (sum(1 for p in self.root_dir.iterdir() if p.is_file()) if file_idx_offset == "auto"
                         and self.root_dir.is_dir() else _count(file_idx_offset) or 0)
                offline.fill_folder(f"{self.api}.{type(self).__name__}", str(words), self.root_dir, max_num,
                                    lambda number, suffix: f"{first + number:06d}{suffix}")

        crawlers = {name: type(name, (Crawler,), {}) for name in
                    ("GoogleImageCrawler", "BingImageCrawler", "BaiduImageCrawler", "FlickrImageCrawler")}
        if module.__name__.endswith(".builtin"):
            module.__dict__.update(crawlers)
        else:
            builtin = types.ModuleType("icrawler.builtin")
            builtin.__dict__.update(crawlers)
            module.__dict__.update(builtin=builtin, Crawler=Crawler)

    # -- fastai ------------------------------------------------------------------------

    def patch_fastai(self, module: Any) -> None:
        """fastai's `download_images`, one image after another under names fixed by the folder and address (it
        names them by uuid4 and downloads in threads, so the files' order would change from run to run)."""
        import sys

        original = module.download_images
        offline = self

        def download_images(dest: Any, url_file: Any = None, urls: Any = None, max_pics: int = 1000,
                            n_workers: int = 8, timeout: int = 4, preserve_filename: bool = False) -> None:
            if urls is None:
                urls = Path(url_file).read_text().strip().split("\n")[:max_pics]
            folder = Path(dest)
            folder.mkdir(exist_ok=True)
            urls = [str(url) for url in urls]
            own = offline.holds_own_images(folder)
            written = 0
            for index, url in enumerate(urls):
                address = url.split("?")[0]
                if own and _parse_crawl_url(address) is not None:
                    continue
                served = offline.serve("download_images", address)
                if served is None:
                    continue  # fastai skips an address it cannot download
                suffix = os.path.splitext(urlsplit(address).path)[1] or ".jpg"
                name = uuid.UUID(bytes=hashlib.sha256(f"{relative_path(str(folder))}\0{index}\0{address}".encode()).digest()[:16],
                                 version=4)
                offline.put(served[0], folder / f"{name}{suffix}")
                written += 1
            offline.recorder.emit({"event": "download", "api": "download_images", "dest": relative_path(str(folder)),
                                   "written": written, "kept": own and written == 0})

        download_images.__doc__, download_images.__wrapped__ = original.__doc__, original  # type: ignore[attr-defined]
        for loaded in list(sys.modules.values()):  # the modules that copied it already (`fastai.vision.all`)
            if getattr(loaded, "__name__", "").startswith("fastai") and \
                    getattr(loaded, "download_images", None) is original:
                setattr(loaded, "download_images", download_images)

    # -- urllib and requests -------------------------------------------------------------

    def patch_urllib(self) -> None:
        original = urllib.request.OpenerDirector.open
        offline = self

        def open(opener: Any, fullurl: Any, data: Any = None, *args: Any, **kwargs: Any) -> Any:
            url = fullurl.full_url if isinstance(fullurl, urllib.request.Request) else str(fullurl)
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                return original(opener, fullurl, data, *args, **kwargs)
            served = offline.serve("urllib", url)
            if served is None:
                raise urllib.error.URLError(_refusal(url))
            body, content_type = served
            headers = email.message.Message()
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))
            return urllib.response.addinfourl(io.BytesIO(body), headers, url, 200)

        open.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(urllib.request.OpenerDirector, "open", open)

    def patch_requests(self, module: Any) -> None:
        # Its submodules: while requests.adapters runs, the `requests` package itself is not filled in yet.
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.models import Response
        from requests.structures import CaseInsensitiveDict
        from requests.utils import get_encoding_from_headers

        offline = self

        def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            served = offline.serve("requests", request.url)
            if served is None:
                raise RequestsConnectionError(_refusal(request.url), request=request)
            body, content_type = served
            response = Response()
            response.status_code, response.reason, response.url = 200, "OK", request.url
            response.headers = CaseInsensitiveDict({"Content-Type": content_type, "Content-Length": str(len(body))})
            response._content = body
            response.raw = io.BytesIO(body)
            response.request, response.connection = request, adapter
            response.encoding = get_encoding_from_headers(response.headers)
            return response

        send.__wrapped__ = module.HTTPAdapter.send  # type: ignore[attr-defined]
        module.HTTPAdapter.send = send

    # -- the virtual clock -----------------------------------------------------------------

    def install_virtual_clock(self) -> None:
        """`time.sleep` in the notebook's own thread advances a clock instead of waiting, and `time.time` and
        `time.perf_counter` move on with it, so code that measures time still sees the seconds pass. Other threads
        (the kernel's, a DataLoader's) and short polling sleeps wait for real; `time.monotonic`, the kernel's event
        loop's clock, is left alone."""
        real_sleep, real_time, real_time_ns = time.sleep, time.time, time.time_ns
        real_perf, real_perf_ns = time.perf_counter, time.perf_counter_ns
        main = threading.main_thread()
        offline = self

        def sleep(seconds: Any) -> None:
            if (threading.current_thread() is not main or not isinstance(seconds, (int, float))
                    or not SHORTEST_VIRTUAL_SLEEP_S <= seconds <= VIRTUAL_SLEEP_LIMIT_S - offline.slept):
                return real_sleep(seconds)  # and the real one's errors for bad arguments
            offline.slept += float(seconds)
            offline.sleeps += 1
            real_sleep(0)  # still a point where the thread lets others run
            return None

        def skipped_ns() -> int:
            return round(offline.slept * 1e9)

        time.sleep = sleep
        time.time = lambda: real_time() + offline.slept
        time.time_ns = lambda: real_time_ns() + skipped_ns()
        time.perf_counter = lambda: real_perf() + offline.slept
        time.perf_counter_ns = lambda: real_perf_ns() + skipped_ns()

    def on_cell_end(self, result: Any) -> None:
        if self.sleeps != self.reported_sleeps:
            self.reported_sleeps = self.sleeps
            self.recorder.emit({"event": "clock", "sleeps": self.sleeps, "seconds": round(self.slept, 3)})


def _refusal(url: str) -> str:
    return (f"the grader runs notebooks without network access, and {url} is not among the downloads cached "
            "for this exam")


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _asset_status(root: Path | None, name: str) -> str | None:
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text()) if root is not None else {}
        return str(manifest["assets"][name]["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cached_downloads(root: Path | None) -> dict[str, tuple[Path, str]]:
    """URL → (file, content type) from the cache's download index; nothing when it has none."""
    if root is None:
        return {}
    folder = root / DOWNLOADS_FOLDER
    try:
        urls = json.loads((folder / DOWNLOADS_INDEX).read_text())["urls"]
        return {_url_key(url): (folder / entry["file"], str(entry.get("content_type") or "application/octet-stream"))
                for url, entry in urls.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
