"""A corpus for measuring `grader similarity`: independent honest solutions of the DL2022 midterm and copies
disguised the ways students disguise them, written as a graded folder (submissions, executed notebooks and a
gradebook) that `grader similarity` reads like any other.

Honest students each pick their own way of writing every step (several implementations per item, their own names,
print styles, exploratory cells, typos and bugs, True/False mistakes), run their notebook (unseeded training:
their own losses and pictures) and hand it in; the grader's re-run of it shows new numbers where the work was
unseeded and the same ones where it was not (with last-digit differences, as another machine prints). Copies take an
honest notebook and disguise it: renamed variables, new comments, changed spacing, merged or reordered cells, run
again or handed in with the original's outputs, whole or in part; one kind keeps its own code and copies only a
friend's Problem 1 outputs.

    from benchmarks.similarity_corpus import write_corpus
    truth = write_corpus(folder, honest=300, copies=30, seed=1)   # {(copier, original): disguise}
"""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from PIL import Image

from scripts.disguise import COMMENTS, assigned_names, recommented, renamed

from grader.gradebook import Gradebook, GradingSources, RubricSummary
from grader.results import CellRun, ItemResult, SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
TF_ANSWERS = {"3.1": False, "3.2": True, "3.3": True, "3.4": True, "3.5": False, "3.6": True, "3.7": True,
              "3.8": False, "3.9": False, "3.10": True}
KEYWORDS = ["cat", "dog", "apple", "banana", "car", "bike", "tiger", "lion", "rose", "tulip", "pizza", "sushi",
            "horse", "zebra", "coffee", "tea", "bus", "train", "owl", "eagle", "maple", "pine", "ramen", "kimchi"]
NAMES = {
    "net": ["net", "model", "linr", "lin", "network", "mdl", "f", "lr_model", "net1", "my_net"],
    "opt": ["optimizr", "optimizer", "opt", "adam", "optim", "o", "optr", "opt1"],
    "opt2": ["optimizr2", "optimizer2", "opt2", "sgd", "sgd_opt", "o2"],
    "loss_fn": ["loss_fn", "criterion", "mse", "lossf", "loss_func"],
    "X": ["X", "XX", "X_mat", "design", "X1"],
    "yhat": ["yhat", "y_hat", "pred", "out", "yh"],
    "loss": ["loss", "l", "L", "mse_loss", "cost"],
    "epoch": ["epoc", "epoch", "i", "_", "step", "it", "k"],
    "dls": ["dls", "dl", "data", "loaders"],
    "lrnr": ["lrnr", "learn", "learner", "lr", "clf"],
    "path": ["path", "p", "root", "folder", "img_path"],
}
# The printed values of Problem 2 when done right, as torch prints them (the same for every correct student).
GRADIENTS = ["[[-15.7290,  14.7198]]", "[[-15.5179,  14.4789]]", "[[-15.3068,  14.2382]]", "[[-15.0960,  13.9976]]",
             "[[-14.8852,  13.7572]]"]
WEIGHTS_AFTER = ["[[-4.9000,  9.9000]]", "[[-4.8000,  9.8000]]", "[[-4.7001,  9.7002]]", "[[-4.6003,  9.6004]]",
                 "[[-4.5006,  9.5008]]"]
SGD_AFTER = ["[[-1.5657,  6.7973]]", "[[0.1352, 5.4015]]", "[[1.1247, 4.6850]]", "[[1.7025, 4.3198]]",
             "[[2.0411, 4.1352]]", "[[2.2455, 4.0253]]", "[[2.3727, 3.9580]]", "[[2.4533, 3.9159]]",
             "[[2.5049, 3.8892]]", "[[2.5381, 3.8721]]"]
# What common bugs print instead (deterministic: every student with the bug prints the same).
BUGGED = {
    "summed": (["[[-1572.9000,  1471.9800]]"], ["[[2.1e17, -1.9e17]]"]),
    "no-zero-grad": (["[[-31.2469,  29.1987]]"], ["[[3.9114, -10.4986]]"]),
    "no-reshape": (["[[-15.7290,  23.7921]]"], ["[[2.2807, 0.0123]]"]),
}
TYPOS = ["optimzr", "otimizer", "netw", "yaht", "los", "X_", "leanr", "dsl"]


@dataclass
class Student:
    key: str
    name: str
    answers: dict[str, str]  # item -> code (2.5: text)
    extra: dict[str, list[str]] = field(default_factory=dict)  # item -> extra cells after its answer
    bug: str | None = None
    wrong_tf: dict[str, bool] = field(default_factory=dict)
    typo: str | None = None  # a NameError raised in 2.4's extra cell
    seeded: bool = False  # Problem 1 seeded: the re-run prints the same numbers
    crawl_fails: bool = False  # the crawl needs the network: the re-run raises
    outputs: dict[str, list[dict]] = field(default_factory=dict)  # item -> stored outputs of its answer cell
    rerun: dict[str, list[dict]] = field(default_factory=dict)  # item -> the grader's re-run outputs
    unseeded: bool = False  # a cell of 2.1's extras prints random numbers
    tf_order: list[str] = field(default_factory=list)  # the True/False items in the order the notebook has them


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _picture(rng: random.Random, side: int = 48) -> dict:
    image = Image.frombytes("L", (side, side), bytes(rng.randrange(256) for _ in range(side * side)))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"}}


def _fit_table(rng: random.Random, epochs: int, metric: str, html: bool) -> tuple[dict, list[float]]:
    rows = [[rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.8), rng.uniform(0.0, 0.5)] for _ in range(epochs)]
    return _table(rows, metric, html), [value for row in rows for value in row]


def _table(rows: list[list[float]], metric: str, html: bool) -> dict:
    if html:
        body = "".join(f"<tr><td>{n}</td>" + "".join(f"<td>{value:.6f}</td>" for value in row) + "<td>00:27</td></tr>"
                       for n, row in enumerate(rows))
        return {"output_type": "display_data", "metadata": {}, "data": {
            "text/html": f'<table class="fastprogress"><thead><tr><th>epoch</th><th>train_loss</th>'
                         f"<th>valid_loss</th><th>{metric}</th><th>time</th></tr></thead><tbody>{body}</tbody></table>",
            "text/plain": "<IPython.core.display.HTML object>"}}
    lines = [f"epoch     train_loss  valid_loss  {metric}  time"]
    lines += [f"{n:<9} " + "  ".join(f"{value:.6f}" for value in row) + "  00:05" for n, row in enumerate(rows)]
    return _stream("\n".join(lines) + "\n")


def _tensor(value: str) -> str:
    return f"tensor({value})\n"


# -- honest code ---------------------------------------------------------------------------------------------------

def _names(rng: random.Random) -> dict[str, str]:
    return {role: rng.choice(pool) for role, pool in NAMES.items()}


def _crawl(rng: random.Random, n: dict[str, str], words: tuple[str, str]) -> str:
    a, b = words
    return rng.choice([
        f"for keyword in ['{a}', '{b}']:\n    urls = search_images_ddg(keyword, max_images=50)\n"
        f"    dest = Path('images')/keyword\n    dest.mkdir(exist_ok=True, parents=True)\n"
        f"    download_images(dest, urls=urls)\n    resize_images(dest, max_size=400, dest=dest)",
        f"from duckduckgo_search import DDGS\n{n['path']} = Path('data')\nfor kw in ('{a}', '{b}'):\n"
        f"    results = DDGS().images(kw, max_results=40)\n    urls = [r['image'] for r in results]\n"
        f"    download_images({n['path']}/kw, urls=urls)\n    time.sleep(5)",
        f"from icrawler.builtin import GoogleImageCrawler\nfor word in ['{a}', '{b}']:\n"
        f"    crawler = GoogleImageCrawler(storage={{'root_dir': f'./imgs/{{word}}'}})\n"
        f"    crawler.crawl(keyword=word, max_num=30)",
        f"{n['path']} = Path('images')\nkeywords = '{a}', '{b}'\nfor k in keywords:\n"
        f"    download_images({n['path']}/k, urls=search_images_ddg(k))\n"
        f"print({{k: len(get_image_files({n['path']}/k)) for k in keywords}})",
    ])


def _dataloaders(rng: random.Random, n: dict[str, str]) -> str:
    size = rng.choice([224, 128, 256, 200])
    body = rng.choice([
        f"{n['dls']} = ImageDataLoaders.from_folder({n['path']}, valid_pct=0.2, item_tfms=Resize({size}))",
        f"{n['dls']} = ImageDataLoaders.from_folder({n['path']}, train='.', valid_pct=0.25, "
        f"item_tfms=Resize({size}), bs=16)",
        f"{n['dls']} = ImageDataLoaders.from_folder(\n    {n['path']},\n    valid_pct=0.2,\n    seed=42,\n"
        f"    item_tfms=RandomResizedCrop({size}, min_scale=0.5),\n)",
    ])
    return body + rng.choice(["", f"\n{n['dls']}.vocab", f"\n{n['dls']}.show_batch()", f"\nprint({n['dls']}.vocab)"])


def _fit(rng: random.Random, n: dict[str, str]) -> tuple[str, int, str]:
    epochs = rng.choice([1, 1, 2, 3])
    metric = rng.choice(["error_rate", "accuracy"])
    make = rng.choice(["vision_learner", "cnn_learner"])
    train = rng.choice([f"{n['lrnr']}.fine_tune({epochs})", f"{n['lrnr']}.fit_one_cycle({epochs})",
                        f"{n['lrnr']}.fine_tune({epochs}, base_lr=1e-3)"])
    return f"{n['lrnr']} = {make}({n['dls']}, resnet34, metrics={metric})\n{train}", epochs, metric


def _cam(rng: random.Random, n: dict[str, str]) -> str:
    m = n["lrnr"]
    return rng.choice([
        f"x, = first({n['dls']}.test_dl([PILImage.create(get_image_files({n['path']})[0])]))\n"
        f"camimg = torch.einsum('ij,jkl -> ikl', {m}.model[1][2].weight, {m}.model[0](x).squeeze())\n"
        f"fig, ax = plt.subplots(1, 2)\n{n['dls']}.train.decode((x,))[0].squeeze().show(ax=ax[0])\n"
        f"ax[0].imshow(camimg[0].to('cpu').detach(), alpha=0.7, extent=(0,224,224,0), interpolation='bilinear', "
        f"cmap='magma')",
        f"class Hook():\n    def __init__(self, m):\n        self.hook = m.register_forward_hook(self.hook_func)\n"
        f"    def hook_func(self, m, i, o): self.stored = o.detach().clone()\n"
        f"    def __enter__(self, *args): return self\n    def __exit__(self, *args): self.hook.remove()\n"
        f"with Hook({m}.model[0]) as hook:\n    with torch.no_grad(): output = {m}.model.eval()(x)\n"
        f"    act = hook.stored[0]\ncam_map = torch.einsum('ck,kij->cij', {m}.model[1][-1].weight, act)\n"
        f"x_dec = TensorImage({n['dls']}.train.decode((x,))[0][0])\n_, ax = plt.subplots()\nx_dec.show(ctx=ax)\n"
        f"ax.imshow(cam_map[1].detach().cpu(), alpha=0.6, extent=(0,224,224,0), interpolation='bilinear', "
        f"cmap='magma')",
        f"feats = {{}}\nh = {m}.model[0].register_forward_hook(lambda mod, i, o: feats.update(a=o))\n"
        f"score = {m}.model(x)[0, 1]\nh.remove()\ngrads = torch.autograd.grad(score, feats['a'])[0]\n"
        f"w = grads.mean(dim=(2, 3), keepdim=True)\ngcam = torch.relu((w * feats['a']).sum(1))\n"
        f"gcam = F.interpolate(gcam[None], size=(224, 224), mode='bilinear')[0, 0]\n"
        f"plt.imshow(x[0].permute(1, 2, 0).cpu())\nplt.imshow(gcam.detach().cpu(), alpha=0.5, cmap='jet')",
    ])


def _printer(rng: random.Random) -> str:
    return rng.choice(["print({})", "print({})", "print('value:', {})", "print(f'{{{}}}')", "display({})"])


def _setup(rng: random.Random, n: dict[str, str], bug: str | None) -> str:
    X, net = n["X"], n["net"]
    design = rng.choice([f"{X} = torch.stack([torch.ones_like(x), x], axis=1)",
                         f"{X} = torch.concat([torch.ones(100, 1), x.reshape(-1, 1)], axis=1)",
                         f"{X} = torch.stack([torch.ones(100), x]).T",
                         f"{X} = torch.column_stack((torch.ones_like(x), x))"])
    reshape = "" if bug == "no-reshape" else rng.choice(["y = y.reshape(-1,1)\n", "y = y.reshape(100, 1)\n",
                                                          "y = y.view(-1, 1)\n", "y = y.unsqueeze(-1)\n"])
    weights = rng.choice([f"{net}.weight.data = torch.tensor([[-5.0, 10.0]])",
                          f"with torch.no_grad():\n    {net}.weight[:] = torch.tensor([[-5., 10.]])",
                          f"{net}.weight.data[0, 0] = -5\n{net}.weight.data[0, 1] = 10",
                          f"{net}.weight = torch.nn.Parameter(torch.tensor([[-5.0, 10.0]]))"])
    layer = rng.choice(["torch.nn.Linear(in_features=2, out_features=1, bias=False)",
                        "torch.nn.Linear(2, 1, bias=False)"])
    return f"{design}\n{reshape}{net} = {layer}\n{weights}"


def _loss(rng: random.Random, n: dict[str, str], bug: str | None) -> tuple[str, str]:
    """(the loss function's definition, if any, and the expression a loop computes)."""
    yhat = n["yhat"]
    if bug == "summed":
        return "", rng.choice([f"torch.sum((y-{yhat})**2)", f"((y-{yhat})**2).sum()"])
    return rng.choice([("", f"torch.mean((y-{yhat})**2)"), ("", f"((y - {yhat})**2).mean()"),
                       (f"{n['loss_fn']} = torch.nn.MSELoss()\n", f"{n['loss_fn']}({yhat}, y)")])


def _loop(rng: random.Random, n: dict[str, str], steps: int, opt: str, loss_expr: str, bug: str | None,
          style: int, printer: str) -> str:
    net, yhat, loss, epoch, X = n["net"], n["yhat"], n["loss"], n["epoch"], n["X"]
    zero = "" if bug == "no-zero-grad" else f"    {opt}.zero_grad()\n"
    show_grad = "    " + printer.format(f"{net}.weight.grad") + "\n"
    show_w = "    " + printer.format(f"{net}.weight.data") + "\n"
    if style == 0:
        return (f"for {epoch} in range({steps}):\n    {yhat} = {net}({X})\n    {loss} = {loss_expr}\n"
                f"    {loss}.backward()\n{show_grad}    {opt}.step()\n{zero}{show_w}")
    if style == 1:
        return (f"for {epoch} in range({steps}):\n{zero}    {loss} = {loss_expr.replace(yhat, f'{net}({X})')}\n"
                f"    {loss}.backward()\n{show_grad}    {opt}.step()\n{show_w}")
    return (f"count = 0\nwhile count < {steps}:\n    {yhat} = {net}({X})\n    {loss} = {loss_expr}\n"
            f"    {loss}.backward()\n{show_grad}    {opt}.step()\n{zero}{show_w}    count += 1")


# Equivalent ways of writing the same thing: each student has their own habits, as real ones do.
HABITS = [
    (r"\.weight\.data\)", ".weight.detach())"),
    (r"\.parameters\(\), lr=", ".parameters(), lr = "),
    (r"\((\w+)\.parameters\(\), lr=([\d.]+)\)", r"(params=\1.parameters(), lr=\2)"),
    (r"(\w+)\((\w+)\)\n", r"\1.forward(\2)\n"),
    (r"range\((\d+)\)", lambda m: f"range(1, {int(m.group(1)) + 1})"),
    (r"\[\[-5\.0, 10\.0\]\]", "[[-5., 10.]]"),
    (r"torch\.tensor\(", "torch.Tensor("),
    (r"    (\w+)\.backward\(\)\n", r"    \1.backward()\n    print(\1.item())\n"),
    (r"    (\w+)\.backward\(\)\n", r"    \1.backward()\n    print(f'loss={\1.item():.4f}')\n"),
    (r"torch\.mean\(", "torch.Tensor.mean("),
    (r"\*\*2", "**2.0"),
    (r"lr=0\.1\b", "lr=1e-1"),
    (r"lr=0\.2\b", "lr=2e-1"),
    (r"print\((\w+)\.weight\.grad\)", r"print(\1.weight.grad.data)"),
    (r"(\w+) = ImageDataLoaders", r"\1 = ImageDataLoaders"),
    (r"resnet34", "models.resnet34"),
    (r"metrics=(\w+)", r"metrics=[\1]"),
    (r"\.fine_tune\((\d)\)", r".fine_tune(epochs=\1)"),
]


def habits(rng: random.Random) -> list[tuple[str, object]]:
    return [habit for habit in HABITS if rng.random() < 0.35]


def styled(code: str, chosen: list[tuple[str, object]]) -> str:
    for pattern, replacement in chosen:
        code = re.sub(pattern, replacement, code)  # type: ignore[call-overload]
    return code


def _tf_answer(rng: random.Random, value: bool, style: int) -> str:
    return [str(value), repr("O" if value else "X"), f"ans = {value}", f"{value}  # {rng.choice(COMMENTS)[2:]}",
            f"'{'참' if value else '거짓'}'"][style]


def honest(rng: random.Random, key: str) -> Student:
    n = _names(rng)
    bug = rng.choice([None] * 8 + list(BUGGED))
    words = tuple(rng.sample(KEYWORDS, 2))
    define, loss_expr = _loss(rng, n, bug)
    style = rng.randrange(3)
    printer = _printer(rng)
    opt, opt2 = n["opt"], n["opt2"]
    fit, epochs, metric = _fit(rng, n)
    answers = {
        "1.1": _crawl(rng, n, words),  # type: ignore[arg-type]
        "1.2": _dataloaders(rng, n),
        "1.3": fit,
        "1.4": _cam(rng, n),
        "2.1": _setup(rng, n, bug),
        "2.2": f"{define}{opt} = torch.optim.Adam({n['net']}.parameters(), lr=0.1)\n"
               + _loop(rng, n, 1, opt, loss_expr, bug, style, printer),
        "2.3": _loop(rng, n, 4, opt, loss_expr, bug, style, printer),
        "2.4": f"{opt2} = torch.optim.SGD({n['net']}.parameters(), lr=0.2)\n"
               + _loop(rng, n, 10, opt2, loss_expr, bug, style, printer),
        "2.5": rng.choice(["미분계수가 거의 0이므로 수렴했다.", "The gradient is close to 0, so it converged.",
                           "기울기가 0에 가까워서 잘 학습되었다고 생각한다.", "수렴하지 않았다."]),
    }
    chosen = habits(rng)
    answers = {item: styled(code, chosen) if item[0] in "12" and item != "2.5" else code
               for item, code in answers.items()}
    tf_style = rng.randrange(5)
    wrong = {item: not value for item, value in TF_ANSWERS.items() if rng.random() < 0.12}
    for item, value in TF_ANSWERS.items():
        answers[item] = _tf_answer(rng, wrong.get(item, value), tf_style)
    student = Student(key, f"학생{key[-3:]}", answers, bug=bug, wrong_tf=wrong, seeded=rng.random() < 0.2,
                      crawl_fails="DDGS" in answers["1.1"] or "icrawler" in answers["1.1"])
    if rng.random() < 0.5:
        student.extra["2.1"] = [rng.choice([f"{n['X']}.shape", f"print({n['X']}[:5])", f"{n['net']}.weight",
                                            f"print({n['net']}({n['X']})[:3])"])]
    if rng.random() < 0.25:  # trying things out, unseeded: its numbers are the student's run's alone
        student.extra["2.1"] = student.extra.get("2.1", []) + [
            rng.choice(["torch.randn(3)", "print(torch.nn.Linear(2, 1).weight)", "torch.rand(2, 2)"])]
        student.unseeded = True
    if rng.random() < 0.1:
        student.typo = rng.choice(TYPOS)
        student.extra["2.4"] = [f"print({student.typo})"]
    _run(rng, student, epochs, metric)
    return student


def _run(rng: random.Random, student: Student, epochs: int, metric: str, rerun_only: bool = False) -> None:
    """The student's own run (stored outputs) and the grader's re-run. rerun_only: keep the stored outputs."""
    gradients, weights, sgd = GRADIENTS, WEIGHTS_AFTER, SGD_AFTER
    if student.bug:
        bad_gradients, bad_end = BUGGED[student.bug]
        gradients = bad_gradients * 5
        sgd = SGD_AFTER[:9] + bad_end
    def problem_2(machine: int) -> dict[str, list[dict]]:
        def wobble(text: str) -> str:  # another machine's last digit
            return re.sub(r"(\d)(\d)\]", lambda m: f"{m.group(1)}{(int(m.group(2)) + machine) % 10}]", text, count=1)
        return {
            "2.2": [_stream(_tensor(wobble(gradients[0])) + _tensor(weights[0]) + "---\n")],
            "2.3": [_stream("".join(_tensor(wobble(g)) + _tensor(w) + "---\n" for g, w in zip(gradients[1:], weights[1:])))],
            "2.4": [_stream("".join(_tensor(wobble(w)) for w in sgd))],
        }
    own_seed = rng.random()
    stored: dict[str, list[dict]] = {}
    if not rerun_only:
        stored_fit, stored_numbers = _fit_table(random.Random(own_seed), epochs, metric, html=True)
        stored = {"1.3": [stored_fit], "1.4": [_picture(random.Random(own_seed))], **problem_2(0)}
        student.outputs.update(stored)
    if student.seeded:
        rerun_fit = _table([[value + 1e-7 for value in row] for row in
                            _rows(student.outputs["1.3"])], metric, html=False)
    else:
        rerun_fit, _ = _fit_table(rng, epochs, metric, html=False)
    rerun = {"1.3": [rerun_fit], "1.4": [_picture(rng)], **problem_2(rng.randrange(2))}
    if student.unseeded:
        if not rerun_only:
            student.outputs["random"] = [_random_tensor(random.Random(own_seed + 1))]
        rerun["random"] = [_random_tensor(rng)]
    if student.crawl_fails:
        error = {"output_type": "error", "ename": "ModuleNotFoundError",
                 "evalue": "No module named 'duckduckgo_search'", "traceback": []}
        rerun = {**rerun, "1.1": [error], "1.3": [], "1.4": []}
    student.rerun.update(rerun)


def _random_tensor(rng: random.Random) -> dict:
    values = ", ".join(f"{rng.gauss(0, 1):.4f}" for _ in range(3))
    return {"output_type": "execute_result", "metadata": {}, "execution_count": 2, "data": {"text/plain": f"tensor([{values}])"}}


def _rows(outputs: list[dict]) -> list[list[float]]:
    html = outputs[0]["data"]["text/html"]
    numbers = [float(value) for value in re.findall(r"<td>(\d\.\d{6})</td>", html)]
    return [numbers[start:start + 3] for start in range(0, len(numbers), 3)]


# -- disguises -----------------------------------------------------------------------------------------------------

DISGUISES = ["verbatim, run again", "renamed, outputs kept", "renamed, re-commented, run again",
             "renamed, cells merged, run again", "Problem 2 only, renamed", "own code, Problem 1 outputs copied"]


def copied(rng: random.Random, original: Student, key: str, disguise: str, own: Student) -> Student:
    """A copy of `original` by student `key`, disguised; `own` is what the copier would have written alone."""
    student = copy.deepcopy(original)
    student.key, student.name = key, f"학생{key[-3:]}"
    code_items = [item for item in student.answers if item[0] in "12" and item != "2.5"]
    everything = "\n".join(student.answers[item] for item in code_items)
    mapping = {name: f"{name}_{rng.choice(['v', 'my', 'new', 'x'])}{rng.randrange(9)}"
               for name in sorted(assigned_names(everything)) if len(name) > 1}
    if disguise == "own code, Problem 1 outputs copied":
        student = copy.deepcopy(own)
        student.outputs["1.3"] = copy.deepcopy(original.outputs["1.3"])
        student.outputs["1.4"] = copy.deepcopy(original.outputs["1.4"])
        return student
    if disguise == "Problem 2 only, renamed":
        for item in [item for item in code_items if item.startswith("2")]:
            own.answers[item] = renamed(student.answers[item], mapping)
        own.bug = student.bug
        own.key, own.name = key, student.name
        _run(rng, own, 1, "error_rate", rerun_only=True)
        own.outputs.update({item: copy.deepcopy(student.outputs[item]) for item in ("2.2", "2.3", "2.4")})
        return own
    if disguise != "verbatim, run again":
        for item in code_items:
            student.answers[item] = renamed(student.answers[item], mapping)
            student.extra[item] = [renamed(cell, mapping) for cell in student.extra.get(item, [])]
        if student.typo in mapping:
            student.typo = mapping[student.typo]
    if "re-commented" in disguise or "merged" in disguise:
        for item in code_items:
            student.answers[item] = recommented(rng, student.answers[item])
    if "merged" in disguise:
        student.answers["2.2"] += "\n" + student.answers.pop("2.3")
        student.answers["2.3"] = ""
        tf_items = list(TF_ANSWERS)
        rng.shuffle(tf_items)
        student.tf_order = tf_items
    if "run again" in disguise:
        student.outputs = {}
        _run(rng, student, 1, "error_rate")
        student.rerun = {}
        _run(rng, student, 1, "error_rate", rerun_only=True)
    else:
        student.rerun = {}
        _run(rng, student, 1, "error_rate", rerun_only=True)
    return student


# -- writing the graded folder ------------------------------------------------------------------------------------

def _notebook(template: nbformat.NotebookNode, student: Student, executed: bool) -> nbformat.NotebookNode:
    nb = copy.deepcopy(template)
    cells = []
    outputs = student.rerun if executed else student.outputs
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        item = next((tag.split(":")[1] for tag in tags if tag.startswith("answer:")), None)
        cells.append(cell)
        if item is None:
            continue
        cell.source = student.answers.get(item, "")
        if cell.cell_type == "code":
            cell.outputs = copy.deepcopy(outputs.get(item, []))
            if item in TF_ANSWERS:
                cell.outputs = [{"output_type": "execute_result", "metadata": {}, "execution_count": 1,
                                 "data": {"text/plain": cell.source.split("#")[0].strip()}}]
        for extra in student.extra.get(item, []):
            extra_cell = nbformat.v4.new_code_cell(extra)
            if "rand" in extra or "Linear(2, 1).weight" in extra:
                extra_cell.outputs = copy.deepcopy(outputs.get("random", []))
            if student.typo and student.typo in extra:
                extra_cell.outputs = [{"output_type": "error", "ename": "NameError",
                                       "evalue": f"name '{student.typo}' is not defined", "traceback": []}]
            cells.append(extra_cell)
    order = student.tf_order
    if order:  # the True/False answers in another order, each still under its own tag
        blocks = {item: [] for item in order}
        rest, current = [], None
        for cell in cells:
            tags = cell.metadata.get("tags", [])
            found = next((tag.split(":")[1] for tag in tags if tag.split(":")[1] in blocks), None) if tags else None
            current = found or (current if current in blocks and not tags else None)
            (blocks[current] if current else rest).append(cell)
        cells = rest + [cell for item in order for cell in blocks[item]]
    nb.cells = cells
    return nbformat.from_dict(nb)


def _result(student: Student, rubric_hash: str) -> SubmissionResult:
    items = []
    for item in [f"1.{n}" for n in range(1, 5)] + [f"2.{n}" for n in range(1, 6)] + list(TF_ANSWERS):
        status, message, answer = "pass", "✓", None
        if item in TF_ANSWERS:
            value = student.wrong_tf.get(item, TF_ANSWERS[item])
            answer = str(value)
            status = "fail" if item in student.wrong_tf else "pass"
            message = f"answer read as {value}"
        elif item == "2.5":
            status, message = "manual", "waiting for a TA to grade this answer"
        elif student.bug and item in ("2.2", "2.3", "2.4"):
            status, message = "partial", "✗ weights after the updates: 2 of 2 value(s) outside the tolerance"
        elif student.crawl_fails and item.startswith("1."):
            status, message = "partial", "✓ from the submitted file's outputs (not re-executed)"
        items.append(ItemResult(id=item, points=0.0, max_points=1.0, status=status, message=message,
                                evidence="executed", answer=answer))
    cells = []
    if student.typo:
        cells.append(CellRun(cell=30, status="error", error=f"NameError: name '{student.typo}' is not defined"))
    if student.crawl_fails:
        cells.append(CellRun(cell=5, status="error", error="ModuleNotFoundError: No module named 'duckduckgo_search'"))
    return SubmissionResult(student=student.key, name=student.name, file=f"{student.name}({student.key}).ipynb",
                            status="needs-review", total=0.0, max=100.0, items=items, notebook_hash=student.key,
                            rubric_hash=rubric_hash, cells=cells)


def write_corpus(folder: Path, honest_count: int, copies: int, seed: int) -> dict[tuple[str, str], str]:
    """Write `folder`/submissions and `folder`/out (executed notebooks and gradebook). Returns the true copies:
    (copier, original) -> the disguise."""
    rng = random.Random(seed)
    template = nbformat.read(RUBRIC / "template.ipynb", as_version=4)
    students = [honest(rng, f"24{index:04d}") for index in range(honest_count)]
    truth = {}
    originals = rng.sample(students, copies)  # one copier each: every pair of a group is then a true pair
    for index, original in enumerate(originals):
        key = f"25{index:04d}"
        disguise = DISGUISES[index % len(DISGUISES)]
        students.append(copied(rng, original, key, disguise, honest(rng, key)))
        truth[(key, original.key)] = disguise
    submissions, out = folder / "submissions", folder / "out"
    (out / "executed").mkdir(parents=True, exist_ok=True)
    submissions.mkdir(parents=True, exist_ok=True)
    with Gradebook(out / "gradebook.sqlite") as book:
        book.bind_rubric(RubricSummary.model_validate(_summary()))
        book.bind_sources(GradingSources(rubric=str(RUBRIC), submissions=str(submissions)))
        for student in students:
            nbformat.write(_notebook(template, student, executed=False), submissions / f"{student.name}({student.key}).ipynb")
            nbformat.write(_notebook(template, student, executed=True), out / "executed" / f"{student.key}.ipynb")
            book.store(_result(student, "corpus"))
    return truth


def _summary() -> dict:
    from grader.batch import rubric_summary
    from grader.rubric import load_rubric

    return json.loads(rubric_summary(load_rubric(RUBRIC)).model_dump_json())
