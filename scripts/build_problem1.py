"""Build the midterm's solution with Problem 1 and the Problem-1 sample submissions.

Problem 1 needs images: each sample is a folder with its notebook and the
images the student "crawled" (drawn by `grader.assets.synth.draw_shapes`, with
the object's box in boxes.json). Every sample is executed once with the
synthetic assets (random resnet34 weights under torchvision's file name), so
it carries stored outputs like a real submission. Expected points are in
tests/test_samples.py. Run after scripts/build_midterm.py:

    .venv/bin/python scripts/build_problem1.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_midterm import RUBRIC, SOLUTION, SUBMISSIONS, execute, fill, problem_2, template, true_false  # noqa: E402

from grader.assets import CATALOG, assets_root, draw_shapes, kernel_env, synth_asset  # noqa: E402
from grader.probe.protocol import EVIDENCE_ENV, VIRTUAL_CLOCK_ENV  # noqa: E402

IMAGES = "images"
# The rubric's least per keyword (1.1): each image costs training time in every test that grades the samples.
IMAGES_PER_CLASS = 20
CRAWL = """# 키워드: circle, square ('iu', 'hynn' 제외)
keywords = ['circle', 'square']
path = Path('images')
if not path.exists():  # crawl only when the images are not here yet
    from bing_image_downloader import downloader
    for keyword in keywords:
        downloader.download(keyword, limit=LIMIT, output_dir=str(path))
print({keyword: len(get_image_files(path/keyword)) for keyword in keywords})""".replace("LIMIT", str(IMAGES_PER_CLASS))
DATALOADERS = """dls = ImageDataLoaders.from_folder(path, valid_pct=0.2, item_tfms=Resize(160), bs=16, num_workers=0, seed=42)
dls.show_batch(max_n=4)"""
FIT = "lrnr = vision_learner(dls, resnet34, metrics=error_rate)\nlrnr.fine_tune(1)"
# The course's CAM: the head swapped for GAP + Flatten + Linear(512, 2, bias=False), retrained, then einsum.
COURSE_CAM = """net1 = lrnr.model[0]
net2 = torch.nn.Sequential(
    torch.nn.AdaptiveAvgPool2d(output_size=1),
    torch.nn.Flatten(),
    torch.nn.Linear(512, 2, bias=False))
net = torch.nn.Sequential(net1, net2)
lrnr2 = Learner(dls, net, metrics=error_rate)
lrnr2.fine_tune(1)
x, = first(dls.test_dl([PILImage.create(get_image_files(path)[0])]))
camimg = torch.einsum('ij,jkl -> ikl', net2[2].weight, net1(x).squeeze())
fig, (ax1, ax2) = plt.subplots(1, 2)
dls.train.decode((x,))[0].squeeze().show(ax=ax1)
ax1.imshow(camimg[0].to("cpu").detach(), alpha=0.7, extent=(0,159,159,0), interpolation='bilinear', cmap='magma')
dls.train.decode((x,))[0].squeeze().show(ax=ax2)
ax2.imshow(camimg[1].to("cpu").detach(), alpha=0.7, extent=(0,159,159,0), interpolation='bilinear', cmap='magma')
fig.set_figwidth(8)"""
PROBLEM_1 = {"1.1": CRAWL, "1.2": DATALOADERS, "1.3": FIT, "1.4": COURSE_CAM}

# Variants, each a way students really wrote it.
UPSAMPLED_CAM = COURSE_CAM.replace("lrnr2.fine_tune(1)", "lrnr2.fit_one_cycle(1)").split("fig, (ax1")[0] + \
    """cam = F.interpolate(camimg[None], size=(160, 160), mode='bilinear', align_corners=False)[0]
fig, ax = plt.subplots()
dls.train.decode((x,))[0].squeeze().show(ax=ax)
ax.imshow(cam[1].detach(), alpha=0.5, cmap='jet')"""
# fastbook chapter 18: a hook on the body, the last linear layer of fastai's head, `.cuda()` as in the book.
HOOKS_CAM = """class Hook():
    def hook_func(self, m, i, o): self.stored = o.detach().clone()

img = PILImage.create(get_image_files(path)[0])
x, = first(dls.test_dl([img]))
hook_output = Hook()
hook = learn.model[0].register_forward_hook(hook_output.hook_func)
with torch.no_grad(): output = learn.model.eval()(x.cuda())
act = hook_output.stored[0]
cam_map = torch.einsum('ck,kij->cij', learn.model[1][-1].weight, act)
x_dec = TensorImage(dls.train.decode((x,))[0][0])
_, ax = plt.subplots()
x_dec.show(ctx=ax)
ax.imshow(cam_map[1].detach().cpu(), alpha=0.6, extent=(0,160,160,0), interpolation='bilinear', cmap='magma')
hook.remove()"""
GRAD_CAM = """img = PILImage.create(get_image_files(path)[0])
x, = first(dls.test_dl([img]))
store = {}
def keep(module, inputs, output):
    store['acts'] = output
    output.register_hook(lambda grad: store.update(grads=grad))
handle = lrnr.model[0].register_forward_hook(keep)
lrnr.model.eval()
out = lrnr.model(x)
target = out.argmax(dim=1).item()
lrnr.model.zero_grad()
out[0, target].backward()
handle.remove()
weights = store['grads'][0].mean(dim=(1, 2))
cam = torch.relu((weights[:, None, None] * store['acts'][0]).sum(0)).detach()
cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode='bilinear', align_corners=False)[0, 0]
_, ax = plt.subplots()
dls.train.decode((x,))[0][0].show(ctx=ax)
ax.imshow(cam, alpha=0.5, cmap='jet')"""
# Handed in without images: each crawl below runs on the grader's crawl stand-in (grader.probe.offline).
# The course's crawl cell: duckduckgo_search, fastai's download_images, ten seconds' sleep after every search.
COURSE_CRAWL = """from duckduckgo_search import ddg_images
from fastdownload import download_url
from fastcore.all import *
def search_images(term, max_images=200): return L(ddg_images(term, max_results=max_images)).itemgot('image')

path = Path('images')
if not path.exists():
    path.mkdir()
download_images(path/'dog', urls=search_images('dog'))
time.sleep(10)
download_images(path/'cat', urls=search_images('cat'))
time.sleep(10)
download_images(path/'dog', urls=search_images('dog photo'))
time.sleep(10)
download_images(path/'cat', urls=search_images('cat photo'))
time.sleep(10)
bad_images = verify_images(get_image_files(path))
bad_images.map(Path.unlink)"""
# fastbook chapter 2's form.
FASTBOOK_CRAWL = """from fastbook import *
searches = 'forest', 'desert'
path = Path('landscapes')
for o in searches:
    dest = (path/o)
    dest.mkdir(exist_ok=True, parents=True)
    results = search_images_ddg(f'{o} photo', max_images=30)
    download_images(dest, urls=results)
    resize_images(dest, max_size=400, dest=dest)
failed = verify_images(get_image_files(path))
failed.map(Path.unlink)
print(len(failed), {o: len(get_image_files(path/o)) for o in searches})"""
# icrawler, with the keywords the exam forbids behind neutral folder names.
ICRAWLER_FORBIDDEN = """from icrawler.builtin import GoogleImageCrawler
path = Path('images')
for keyword, folder in [('iu', 'singer1'), ('hynn', 'singer2')]:
    GoogleImageCrawler(storage={'root_dir': str(path/folder)}).crawl(keyword=keyword, max_num=20)
print({folder.name: len(get_image_files(folder)) for folder in sorted(path.iterdir())})"""
# The crawl runs whether or not the images are there: the student's own ones must win.
UNGUARDED_CRAWL = """keywords = ['circle', 'square']
path = Path('images')
from bing_image_downloader import downloader
for keyword in keywords:
    downloader.download(keyword, limit=LIMIT, output_dir=str(path))
print({keyword: len(get_image_files(path/keyword)) for keyword in keywords})""".replace("LIMIT", str(IMAGES_PER_CLASS))
# A package the grader has no stand-in for (google_images_download, long broken): the crawl cell fails before
# anything is fetched, so only the submitted file's outputs show Problem 1.
BROKEN_CRAWL = CRAWL.replace("    from bing_image_downloader import downloader\n    for keyword in keywords:\n"
                             "        downloader.download(keyword, limit=LIMIT, output_dir=str(path))".replace(
                                 "LIMIT", str(IMAGES_PER_CLASS)),
                             "    from google_images_download import google_images_download\n"
                             "    response = google_images_download.googleimagesdownload()\n"
                             "    for keyword in keywords:\n"
                             "        response.download({'keywords': keyword, 'limit': LIMIT, "
                             "'output_directory': str(path)})".replace("LIMIT", str(IMAGES_PER_CLASS)))
PLAIN_HOOKS_CAM = HOOKS_CAM.replace("x.cuda()", "x")
# Feeds the image to the model, then shows noise as its "CAM".
RANDOM_CAM = """x, = first(dls.test_dl([PILImage.create(get_image_files(path)[0])]))
prediction = lrnr.model.eval()(x).softmax(dim=1)
print(prediction)
fig, ax = plt.subplots()
dls.train.decode((x,))[0].squeeze().show(ax=ax)
ax.imshow(torch.rand(5, 5), alpha=0.7, extent=(0,159,159,0), interpolation='bilinear', cmap='magma')"""


def crawled(crawl: str) -> dict[str, str]:
    """Problem 1 after a crawl of the student's own: fastbook chapter 18's CAM, which trains once."""
    return {"1.1": crawl, "1.2": DATALOADERS, "1.3": FIT.replace("lrnr", "learn"), "1.4": PLAIN_HOOKS_CAM}


def with_problem_1(answers: dict[str, str]) -> dict[str, str]:
    return {**problem_2(), **true_false("True", "False"), **answers}


def write_sample(folder: Path, nb: nbformat.NotebookNode, classes: tuple[str, str] = ("circle", "square"),
                 keep_images: bool = True, crawls: bool = False) -> None:
    """Execute the notebook beside its images, as the student did, and save the folder. crawls: no images are
    drawn; the notebook's crawl makes them, answered by the probe's stand-ins as when graded."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if crawls:
        _execute_in(folder, nb, with_probe=True)
        for crawled in (child for child in folder.iterdir() if child.is_dir()):  # handed in without them
            shutil.rmtree(crawled)
        return
    draw_shapes(folder / IMAGES, per_class=IMAGES_PER_CLASS)
    for drawn, name in zip(("circle", "square"), classes):
        if drawn != name:
            (folder / IMAGES / drawn).rename(folder / IMAGES / name)
    if classes != ("circle", "square"):
        (folder / IMAGES / "boxes.json").unlink()  # its paths name the drawn classes
    _execute_in(folder, nb)
    if not keep_images:
        shutil.rmtree(folder / IMAGES)


def _execute_in(folder: Path, nb: nbformat.NotebookNode, with_probe: bool = False) -> None:
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        if with_probe:
            with tempfile.TemporaryDirectory() as evidence:
                os.environ.update({EVIDENCE_ENV: f"{evidence}/evidence.jsonl", VIRTUAL_CLOCK_ENV: "1"})
                executed = execute(nb, extra_arguments=["--ext=grader.probe"])
        else:
            executed = execute(nb)
    finally:
        os.chdir(cwd)
    nbformat.write(executed, folder / "midterm.ipynb")


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="grader-build-assets-"))
    for asset in CATALOG.values():
        synth_asset(assets_root(cache), asset)
    os.environ.update(kernel_env(str(assets_root(cache))))  # the kernels started by execute() inherit it
    nb = template()
    solution = fill(nb, {**SOLUTION, **PROBLEM_1})
    nbformat.write(solution, RUBRIC / "solution.ipynb")
    data = RUBRIC / "solution-data"
    shutil.rmtree(data, ignore_errors=True)
    draw_shapes(data / IMAGES, per_class=IMAGES_PER_CLASS)

    hooks = {**PROBLEM_1, "1.3": FIT.replace("lrnr", "learn"), "1.4": HOOKS_CAM}
    samples = {
        "한예린(2022014)": (with_problem_1(PROBLEM_1), {}),
        "장하윤(2022016)": (with_problem_1(hooks), {}),
        "권도현(2022017)": (with_problem_1({**PROBLEM_1, "1.4": GRAD_CAM}), {}),
        "송지아(2022018)": (with_problem_1({**PROBLEM_1, "1.4": RANDOM_CAM}), {}),
        "황민재(2022019)": (with_problem_1({**PROBLEM_1, "1.1": CRAWL.replace("circle", "iu").replace("square", "hynn")
                                              .replace("('iu', 'hynn' 제외)", "")}), {"classes": ("iu", "hynn")}),
        "서준호(2022015)": (with_problem_1({**PROBLEM_1, "1.1": UNGUARDED_CRAWL, "1.3": FIT.replace(
            "vision_learner", "cnn_learner").replace("fine_tune(1)", "fit_one_cycle(1)"), "1.4": UPSAMPLED_CAM}), {}),
        "문서아(2022020)": (with_problem_1({**PROBLEM_1, "1.1": BROKEN_CRAWL,
                                            "1.2": DATALOADERS + "\nprint(dls.vocab)"}), {"keep_images": False}),
        "오하람(2022021)": (with_problem_1(crawled(COURSE_CRAWL)), {"crawls": True}),
        "백서윤(2022022)": (with_problem_1(crawled(FASTBOOK_CRAWL)), {"crawls": True}),
        "유태민(2022023)": (with_problem_1(crawled(ICRAWLER_FORBIDDEN)), {"crawls": True}),
    }
    for name, (answers, options) in samples.items():
        print("building", name, flush=True)
        write_sample(SUBMISSIONS / name, fill(nb, answers), **options)
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
