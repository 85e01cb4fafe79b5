"""What the notebook asked of the network, from the probe's offline stand-ins' events (grader.probe.offline)."""

from __future__ import annotations

from grader.evidence.model import Evidence
from grader.results import CrawlSearch, OfflineRun


def offline_run(evidence: Evidence) -> OfflineRun | None:
    """The searches, crawls, downloads and sleeps the grader stood in for; None when the notebook made none."""
    classes = evidence.crawl_images.classes if evidence.crawl_images else []
    searches = [CrawlSearch(api=search.api, keyword=search.keyword, images=search.given,
                            image_class=classes[search.cls] if search.cls is not None and search.cls < len(classes)
                            else None)
                for search in evidence.searches]
    folders: dict[str, int] = {}
    for download in evidence.downloads:
        if download.written:
            folders[download.dest] = folders.get(download.dest, 0) + download.written
    kept = list(dict.fromkeys(download.dest for download in evidence.downloads if download.kept))
    run = OfflineRun(
        crawl_images=evidence.crawl_images.status if evidence.crawl_images else None,
        searches=searches, folders=folders, own_images_kept=kept,
        cached_urls=list(dict.fromkeys(url.url for url in evidence.urls if url.served == "cache")),
        refused_urls=list(dict.fromkeys(url.url for url in evidence.urls if url.served == "refused")),
        sleeps=evidence.clock.sleeps if evidence.clock else 0,
        slept_s=evidence.clock.seconds if evidence.clock else 0.0)
    return run if run != OfflineRun() else None


def crawl_keywords(evidence: Evidence) -> list[str]:
    """The keywords the notebook searched or crawled for, each once, in order."""
    words = [search.keyword for search in evidence.searches]
    words += [download.keyword for download in evidence.downloads if download.keyword]
    return list(dict.fromkeys(words))


def offline_notes(run: OfflineRun) -> list[str]:
    """The TA's notes on it."""
    notes = []
    if run.crawl_substituted:
        classes = ", ".join(dict.fromkeys(s.image_class for s in run.searches if s.image_class)) or "none"
        crawl_source = (f"the asset cache's {run.crawl_images} crawl images (classes {classes})" if run.crawl_images
                        else "nothing: the asset cache has no crawl images (`grader assets synth` or `fetch`)")
        keywords = ", ".join(f"'{search.keyword}'" for search in run.searches[:8])
        more = f" and {len(run.searches) - 8} more" if len(run.searches) > 8 else ""
        written = ", ".join(f"{folder} ({count})" for folder, count in run.folders.items()) or "no folder"
        notes.append(f"the crawl was substituted: searches for {keywords or 'nothing'}{more} were answered with "
                     f"{crawl_source}; images written: {written}")
    if run.own_images_kept:
        notes.append("the student's own images were used in " + ", ".join(run.own_images_kept) +
                     " (the crawl stand-in left those folders alone)")
    if run.refused_urls:
        shown = ", ".join(run.refused_urls[:5]) + (f" and {len(run.refused_urls) - 5} more"
                                                   if len(run.refused_urls) > 5 else "")
        notes.append(f"offline, these URLs failed (not in the download cache): {shown}")
    if run.sleeps:
        notes.append(f"the notebook's {run.sleeps} time.sleep call(s), {run.slept_s:g} s in all, were skipped on "
                     "the grader's virtual clock (time.time moved on with it)")
    return notes
