"""Build the DL2022 midterm's notebooks: the student template, the reference
solution and the sample submissions, from the exam text.

    .venv/bin/python scripts/build_midterm.py

Writes rubrics/dl2022-midterm/template.ipynb and the Problem 2/3 samples in
submissions/; then scripts/build_problem1.py writes solution.ipynb (all three
problems), its image data and the Problem 1 samples.
Sample submissions are executed once (plain kernel, no grader) so that they
carry stored outputs like real ones; a few then get their outputs edited, as
some students do.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
SUBMISSIONS = ROOT / "submissions" / "dl2022-midterm"

IMPORTS = "import torch \nimport matplotlib.pyplot as plt\nfrom fastai.vision.all import *"
DATA = """torch.manual_seed(7676)
x = torch.randn(100).sort().values
ϵ = torch.randn(100)*0.5
y = 2.5+ 4*x + ϵ
plt.plot(x,y,'o')"""

PROBLEM_1 = "## `1`. 크롤링을 통한 이미지 분석 및 CAM. (50점)"
QUESTIONS_1 = {
    "1.1": "`(1)` 두 가지 키워드로 크롤링을 수행하여 이미지자료를 모아라.\n\n- 키워드는 {'iu','hynn'}을 제외하고 본인이 선택할 것",
    "1.2": "`(2)` `ImageDataLoaders.from_folder` 를 이용하여 dls를 만들어라.",
    "1.3": "`(3)` resnet34를 이용하여 학습하라.",
    "1.4": "`(4)` CAM (class activation mapping)을 이용하여 (3)의 모형의 판단근거를 시각화하라.",
}
PROBLEM_2 = "## `2`. 다음을 읽고 물음에 답하라. (30점)\n\n주어진 자료가 아래와 같다고 하자."
MODEL_2 = ("아래와 같은 모형을 가정하고 물음에 답하라.\n\n"
           "$$y_i = w_0+w_1 x_i +\\epsilon_i, \\quad \\epsilon_i \\overset{iid}{\\sim} N(0,\\sigma^2)$$")
QUESTIONS_2 = {
    "2.1": ("`(1)` ??를 적당하게 채워 아래와 같은 네트워크를 설정하고 최초의 예측값이 $\\hat{y}_i=-5+10x_i$가 "
            "출력되도록 net의 가중치를 조정하라.\n\n```python\nnet = torch.nn.Linear(in_features=2,out_features=??,bias=??)\n```"),
    "2.2": ("`(2)` 학습률은 0.1로 설정하고 torch.optim.Adam을 이용하여 optimizer를 선언하라. "
            "$(\\hat{w}_0,\\hat{w}_1)=(-5,10)$에서 MSELoss의 미분계수 "
            "$\\frac{\\partial}{\\partial {\\bf W}}loss(w_0,w_1) ~\\Big|_{~\\hat{w}_0,\\hat{w}_1}$를 구하고 이를 바탕으로 "
            "$(\\hat{w}_0,\\hat{w}_1)$의 값을 1회 갱신하라. 계산된 미분계수값과 갱신된 $(\\hat{w}_0,\\hat{w}_1)$의 값을 출력하라."),
    "2.3": ("`(3)` (2)에서 설정한 optimizer를 이용하여 $(\\hat{w}_0,\\hat{w}_1)$의 값을 5회 갱신한 값을 구하여라.\n\n"
            "- 문제(2)에 갱신한 1회를 포함하여 5회임."),
    "2.4": ("`(4)` 학습률을 0.2로 설정하고 torch.optim.SGD를 이용하여 새로운 optimizr를 선언하라. "
            "(3)의 결과로 총 5회 갱신된 값에 이어서 10회 추가로 학습하라. 학습된 값은 얼마인가?"),
    "2.5": ("`(5)` (4)의 수렴값이 학습이 잘 되었다고 생각하는가? 잘 되었다고 생각하면 그 근거는 무엇인가? "
            "(단, $(w_0,w_1)$의 참값은 모른다고 가정한다)\n\n- hint: 미분값을 근거로 대답할 것"),
}
PROBLEM_3 = """## `3`. 다음을 읽고 참 거짓을 판단하라. (20점)

Assignment1의 1번: 아래는 fastai를 사용하여 MNIST 이미지자료중 일부를 분석하는 코드 중 일부이다. (Assignment1의 1번 문항 참고)

```python
path = untar_data(URLs.MNIST_SAMPLE)
dls = ImageDataLoaders.from_folder(path,suffle=False)
lrnr = cnn_learner(dls, arch = resnet34, metrics=error_rate)
lrnr.fine_tune(1)
X,y = dls.one_batch()
lrnr.model(X[0].reshape(1,3,28,28))
```

마지막 `lrnr.model(X[0].reshape(1,3,28,28))`의 실행결과는 아래와 같다.

```
TensorBase([[ 3.4148, -5.0356]], device='cuda:0', grad_fn=<AliasBackward0>)
```

위의 코드를 올바르게 해석한 것을 모두 고르라."""
QUESTIONS_3 = {
    "3.1": ("`(1)` MNIST 이미지를 분석하였으므로 X는 흑백이미지의 형태로 저장되어 있을 것이다. "
            "즉 텐서 ${\\bf X}$의 shape은 (n,1,28,28) 과 같은 형태일 것이다.\n\n"
            "- hint: \"lrnr.model(X[0].reshape(1,3,28,28))\" 코드를 잘 관찰하세요.."),
    "3.2": "`(2)` `lrnr.model(X[0].reshape(1,3,28,28))` 의 실행결과로 미루어 볼때 손실함수는 `torch.nn.CrossEntropyLoss` 를 사용했을 것이다.",
    "3.3": "`(3)` 위의 코드는 resnet34를 이용한 transfer learning 을 구현하였다.",
    "3.4": "`(4)` 현재 `lrnr.model`와 `X[0]`는 모두 GPU연산이 가능한 저장장치에 있다.",
    "3.5": ("`(5)` `TensorBase([[ 3.4148, -5.0356]], device='cuda:0', grad_fn=<AliasBackward0>)`의 결과에 "
            "softmax함수를 취하게 되면 [0,1] 근처의 값이 나올것이다."),
    "3.6": "`(6)` `torch.nn.Linear(in_features=1,out_features=1,bias=True)` 는 학습가능한 파라메터수가 2개이다.",
    "3.7": ("`(7)` 아래 2개의 레이어에 대한 학습가능한 파레메터 수는 같다.\n\n"
            "- `torch.nn.Linear(in_features=4,out_features=1,bias=False)`\n"
            "- `torch.nn.Conv2d(in_channels=1,out_channels=1,kernel_size=(2,2),bias=False)`"),
    "3.8": ("`(8)` 아래의 네트워크에서 K를 충분히 크게 설정하면 모든 1차원 연속함수를 원하는 정확도로 근사시킬 수 있다.\n\n"
            "```python\nnet = torch.nn.Sequential(\n    torch.nn.Linear(in_features=1,out_features=K),\n"
            "    torch.nn.Linear(in_features=K,out_features=1)\n)\n```"),
    "3.9": "`(9)` `torch.nn.Dropout(0.9)`을 이용하여 생성된 layer는 10%의 layer input을 임의로 0으로 만든다.",
    "3.10": ("`(10)` 아래와 같은 모형에서 자료가 생성되었다고 하자.\n\n"
             "- $y_i \\sim Ber(\\pi_i),\\quad $ where $\\pi_i = \\frac{\\exp(w_0+w_1x_i)}{1+\\exp(w_0+w_1x_i)}$\n\n"
             "이 경우 다음과 같은 네트워크와 손실함수를 선택한다면 손실함수는 항상 convex function이 된다.\n\n"
             "```python\nnet = torch.nn.Sequential(\n    torch.nn.Linear(in_features=1,out_features=1)\n"
             "    torch.nn.Sigmoid()\n)\nloss_fn = torch.nn.BCELoss()\n```"),
}
MARKDOWN_ANSWERS = {"2.5"}

# The instructor's solution, as printed in the exam.
SOLUTION = {
    "1.1": "# 풀이생략 (the exam omits the solution of Problem 1)",
    "2.1": ("X = torch.stack([torch.ones_like(x), x],axis=1) \ny = y.reshape(-1,1)\n"
            "net = torch.nn.Linear(in_features=2,out_features=1,bias=False)\nnet.weight.data = torch.tensor([[ -5.0, 10.0]]) "),
    "2.2": """optimizr = torch.optim.Adam(net.parameters(),lr=0.1)
for epoc in range(1):
    ## step1
    yhat = net(X)
    ## step2 
    loss = torch.mean((y-yhat)**2)
    ## step3
    loss.backward()
    print(net.weight.grad)
    ## step4
    optimizr.step()
    optimizr.zero_grad()
    print(net.weight.data)
    print("---")""",
    "2.3": """for epoc in range(4):
    ## step1 
    yhat = net(X) 
    ## step2 
    loss = torch.mean((y-yhat)**2)
    ## step3
    loss.backward()
    print(net.weight.grad)
    ## step4 
    optimizr.step()
    optimizr.zero_grad()
    print(net.weight.data)
    print("---")""",
    "2.4": """optimizr2= torch.optim.SGD(net.parameters(),lr=0.2) 
for epoc in range(10):
    ## step1 
    yhat = net(X) 
    ## step2 
    loss = torch.mean((y-yhat)**2)
    ## step3
    loss.backward()
    print(net.weight.grad)
    ## step4
    optimizr2.step()
    optimizr2.zero_grad()
    print(net.weight.data)
    print("---")""",
    "2.5": ("최종업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단되어 진다. "
            "(이 경우 손실함수가 convex 이므로 미분계수가 0인 지점이 global minimum이라 주장가능)"),
    "3.1": "False # 채널=3이므로 칼라이미지로 저장되어있음. ",
    "3.2": "True ",
    "3.3": "True",
    "3.4": "True # lrnr.model(X[0].reshape(1,3,28,28)) 의 연산결과로 유추가능",
    "3.5": "False ",
    "3.6": "True",
    "3.7": "True",
    "3.8": "False ",
    "3.9": "False",
    "3.10": "True",
}


def template() -> nbformat.NotebookNode:
    cells = [
        new_code_cell(IMPORTS),
        new_markdown_cell("# DL2022 중간고사 (Midterm)\n\n"
                          "- 답은 각 문항 아래의 빈 셀에 쓰세요. 셀을 더 만들어도 됩니다. "
                          "(Answer in the empty cell under each question; add cells as you need.)\n"
                          "- 참/거짓 문항은 `True` 또는 `False`로 답하세요. (Answer true/false items with `True` or `False`.)\n"
                          "- 제출 전에 `Restart & Run All`로 위에서부터 실행되는지 확인하세요. "
                          "(Before submitting, check that the notebook runs top to bottom.)"),
        new_markdown_cell(PROBLEM_1),
    ]

    def ask(item: str, question: str) -> None:
        cells.append(new_markdown_cell(question, metadata={"tags": [f"question:{item}"]}))
        make = new_markdown_cell if item in MARKDOWN_ANSWERS else new_code_cell
        cells.append(make("", metadata={"tags": [f"answer:{item}"]}))

    for item, question in QUESTIONS_1.items():
        ask(item, question)
    cells += [new_markdown_cell(PROBLEM_2), new_code_cell(DATA), new_markdown_cell(MODEL_2)]
    for item, question in QUESTIONS_2.items():
        ask(item, question)
    cells.append(new_markdown_cell(PROBLEM_3))
    for item, question in QUESTIONS_3.items():
        ask(item, question)
    nb = new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    return nb


def fill(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            role, _, item = tag.partition(":")
            if role == "answer" and item in answers:
                cell.source = answers[item]
    return nb


def execute(nb: nbformat.NotebookNode, extra_arguments: list[str] | None = None) -> nbformat.NotebookNode:
    """Run like a student would before submitting, errors and all. extra_arguments: the kernel's."""
    nb = copy.deepcopy(nb)
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=300,
                   extra_arguments=extra_arguments or []).execute()
    return nb


def loop(steps: int, optimizer: str, loss: str = "torch.mean((y-yhat)**2)", zero_grad: bool = True,
         net: str = "net", step_call: str | None = None) -> str:
    body = [f"for epoc in range({steps}):", f"    yhat = {net}(X)", f"    loss = {loss}", "    loss.backward()",
            f"    print({net}.weight.grad)", f"    {step_call or optimizer + '.step()'}"]
    if zero_grad:
        body.append(f"    {optimizer}.zero_grad()")
    body += [f"    print({net}.weight.data)", '    print("---")']
    return "\n".join(body)


def problem_2(loss: str = "torch.mean((y-yhat)**2)", zero_grad: bool = True, reshape: bool = True) -> dict[str, str]:
    setup = "X = torch.stack([torch.ones_like(x), x],axis=1)\n" + ("y = y.reshape(-1,1)\n" if reshape else "")
    return {
        "2.1": setup + "net = torch.nn.Linear(in_features=2,out_features=1,bias=False)\n"
                       "net.weight.data = torch.tensor([[ -5.0, 10.0]])",
        "2.2": "optimizr = torch.optim.Adam(net.parameters(),lr=0.1)\n" + loop(1, "optimizr", loss, zero_grad),
        "2.3": loop(4, "optimizr", loss, zero_grad),
        "2.4": "optimizr2= torch.optim.SGD(net.parameters(),lr=0.2)\n" + loop(10, "optimizr2", loss, zero_grad),
        "2.5": SOLUTION["2.5"],
    }


KEY = {"3.1": False, "3.2": True, "3.3": True, "3.4": True, "3.5": False,
       "3.6": True, "3.7": True, "3.8": False, "3.9": False, "3.10": True}


def true_false(true: str, false: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {item: (true if value else false) for item, value in KEY.items() if item not in skip}


def mixed_forms(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Answers as students write them: a list for the choose-all block, a bold
    answer typed into a question cell, markdown symbols, an assignment."""
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        tags = cell.metadata.get("tags", [])
        if cell.source.startswith("## `3`"):
            cells.append(new_markdown_cell("**답: 2, 3, 4**"))
        elif "question:3.6" in tags:
            cell.source += " **O**"
        elif "answer:3.7" in tags:
            cells[-1] = new_markdown_cell("⭕", metadata=cell.metadata)
        elif "answer:3.8" in tags:
            cells[-1] = new_markdown_cell("⭕ (K가 크면 근사 가능)", metadata=cell.metadata)  # wrong on purpose
        elif "answer:3.9" in tags:
            cell.source = "ans = 'X'"
        elif "answer:3.10" in tags:
            cells[-1] = new_markdown_cell("참이다. BCE 손실은 이 모형에서 convex.", metadata=cell.metadata)
    nb.cells = cells
    return nb


def colab_copy() -> nbformat.NotebookNode:
    """Retyped into a fresh Colab notebook: no template tags, the exam's headings,
    cells merged differently, `.cuda()` guarded, answers as T/F in markdown."""
    cells = [
        new_markdown_cell("# DL2022 중간고사 - 신유나"),
        new_code_cell(IMPORTS),
        new_markdown_cell("## `1`. 크롤링을 통한 이미지 분석 및 CAM\n\n(시간 부족으로 생략)"),
        new_markdown_cell("## `2`. 다음을 읽고 물음에 답하라"),
        new_code_cell(DATA),
        new_code_cell("device = 'cuda' if torch.cuda.is_available() else 'cpu'"),
        new_markdown_cell("`(1)` 네트워크 설정"),
        new_code_cell("X = torch.stack([torch.ones_like(x), x],axis=1).to(device)\ny = y.reshape(-1,1).to(device)\n"
                      "net = torch.nn.Linear(in_features=2,out_features=1,bias=False).to(device)\n"
                      "net.weight.data = torch.tensor([[-5.0, 10.0]], device=device)"),
        new_markdown_cell("`(2)` 와 `(3)`은 한 셀에서 함께 풀었음"),
        new_code_cell("loss_fn = torch.nn.MSELoss()\noptimizr = torch.optim.Adam(net.parameters(), lr=0.1)\n"
                      "for i in range(5):\n    loss = loss_fn(net(X), y)\n    loss.backward()\n    if i == 0:\n"
                      "        print(net.weight.grad)\n    optimizr.step()\n    optimizr.zero_grad()\n    print(net.weight)"),
        new_markdown_cell("`(4)`"),
        new_code_cell("optimizr2 = torch.optim.SGD(net.parameters(), lr=0.2)\nfor i in range(10):\n"
                      "    loss = loss_fn(net(X), y)\n    loss.backward()\n    optimizr2.step()\n    optimizr2.zero_grad()\n"
                      "print(net.weight)"),
        new_markdown_cell("`(5)` 마지막 미분계수가 거의 0에 가까우므로 수렴했다고 본다."),
        new_markdown_cell("## `3`. 참 거짓"),
    ]
    for item, value in KEY.items():
        number = item.split(".")[1]
        cells.append(new_markdown_cell(f"`({number})` {'T' if value else 'F'}"))
    nb = new_notebook(cells=cells)
    nb.metadata = {"colab": {"provenance": [], "name": "DL2022_midterm.ipynb"},
                   "kernelspec": {"name": "python3", "display_name": "Python 3"}, "accelerator": "GPU"}
    return nb


def copy_outputs(target: nbformat.NotebookNode, source: nbformat.NotebookNode, items: list[str]) -> None:
    """Paste another run's outputs into answer cells, as a student editing the file would."""
    def answer_cells(nb):
        return {tag.split(":", 1)[1]: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])
                if tag.startswith("answer:")}
    targets, sources = answer_cells(target), answer_cells(source)
    for item in items:
        targets[item].outputs = copy.deepcopy(sources[item].outputs)


def sample_submissions(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The Problem 2/3 sample submissions, not yet executed, by file name."""
    samples: dict[str, nbformat.NotebookNode] = {}
    samples["김민준(2022001).ipynb"] = fill(nb, SOLUTION)
    samples["이서연(2022002).ipynb"] = fill(nb, {
        "2.1": "X = torch.stack([torch.ones_like(x), x], axis=1)\ny = y.reshape(-1, 1)\n"
               "model = torch.nn.Linear(in_features=2, out_features=1, bias=False)\n"
               "model.weight.data = torch.tensor([[-5.0, 10.0]])\nmodel(X)[:3]",
        "2.2": "loss_fn = torch.nn.MSELoss()\nopt = torch.optim.Adam(model.parameters(), lr=0.1)\n"
               "yhat = model(X)\nloss = loss_fn(yhat, y)\nloss.backward()\nprint(model.weight.grad)\n"
               "opt.step()\nopt.zero_grad()\nprint(model.weight.data)",
        "2.3": loop(4, "opt", "loss_fn(yhat, y)", net="model"),
        "2.4": "sgd = torch.optim.SGD(model.parameters(), lr=0.2)\n" + loop(10, "sgd", "loss_fn(yhat, y)", net="model")
               + "\nmodel.weight",
        "2.5": "The gradient at the last update is almost 0 (about [-0.12, 0.02]), so the weights have converged.",
        **true_false("'O'", "'X'"),
    })
    samples["박지호(2022003).ipynb"] = fill(nb, {**problem_2(loss="torch.sum((y-yhat)**2)"), **true_false("참", "거짓")})
    samples["최수아(2022004).ipynb"] = fill(nb, {**problem_2(reshape=False), **true_false("T", "F")})
    samples["정도윤(2022005).ipynb"] = fill(nb, {**problem_2(zero_grad=False),
                                               **true_false("true", "false", skip=("3.9", "3.10"))})
    recreated = problem_2()
    recreated["2.3"] = "optimizr = torch.optim.Adam(net.parameters(),lr=0.1)\n" + recreated["2.3"]
    samples["강하은(2022006).ipynb"] = fill(nb, {**recreated, **true_false("True", "False")})
    too_many = problem_2()
    too_many["2.3"] = loop(5, "optimizr")
    samples["조예준(2022007).ipynb"] = fill(nb, {**too_many, **true_false("True", "False")})
    samples["윤지우(2022008).ipynb"] = mixed_forms(fill(nb, {**problem_2(), **true_false("True", "False", skip=(
        "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.10"))}))
    typo = problem_2()
    typo["2.3"] = loop(4, "optimizr", step_call="optimizer.step()")  # NameError: the optimizer is `optimizr`
    samples["임서준(2022009).ipynb"] = fill(nb, {**typo, **true_false("True", "False")})
    samples["오시우(2022011).ipynb"] = fill(nb, {
        "2.1": problem_2()["2.1"],
        "2.2": "optimizr = torch.optim.Adam(net.parameters(),lr=0.1)\n"
               "print(torch.tensor([[-15.7290,  14.7198]]))\nprint(torch.tensor([[-4.9000,  9.9000]]))",
        "2.3": "print(torch.tensor([[-4.5006,  9.5008]]))",
        "2.4": "optimizr2= torch.optim.SGD(net.parameters(),lr=0.2)\nprint(torch.tensor([[2.4925, 3.9607]]))",
        **true_false("True", "False"),
    })
    wrong_lr = problem_2()
    wrong_lr["2.2"] = wrong_lr["2.2"].replace("lr=0.1", "lr=0.01")
    samples["배은우(2022013).ipynb"] = fill(nb, {**wrong_lr, **true_false("True", "False")})
    return samples


def main() -> None:
    nb = template()
    nbformat.write(nb, RUBRIC / "template.ipynb")
    solution = fill(nb, SOLUTION)  # Problems 2 and 3; scripts/build_problem1.py writes the full solution.ipynb

    for old in SUBMISSIONS.iterdir():
        if old.name != "README.md":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    executed = {name: execute(sample) for name, sample in sample_submissions(nb).items()}
    copy_outputs(executed["배은우(2022013).ipynb"], execute(solution), ["2.2", "2.3", "2.4"])
    for name, sample in executed.items():
        nbformat.write(sample, SUBMISSIONS / name)
    (SUBMISSIONS / "신유나(2022012)").mkdir()
    nbformat.write(execute(colab_copy()), SUBMISSIONS / "신유나(2022012)" / "DL2022_midterm.ipynb")
    # Exported as HTML and renamed: not a notebook.
    (SUBMISSIONS / "한지민(2022010).ipynb").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>midterm</title></head>\n"
        "<body><h1>DL2022 중간고사</h1><p>torch.optim.Adam ...</p></body></html>\n", encoding="utf-8")


if __name__ == "__main__":
    main()
