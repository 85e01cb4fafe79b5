"""Build the third sample exam, a CNN quiz written only with data: no grader code knows it.

    .venv/bin/python scripts/build_cnn.py

Writes, under rubrics/dl2023-cnn-quiz/:

- master.ipynb: the instructor's master notebook (questions tagged `question:P.N`, solutions between
  `### BEGIN SOLUTION` / `### END SOLUTION`; seed lines given to the students stay outside), executed once.
- template.ipynb and solution.ipynb, by `grader assign` from the master. rubric.yaml is written by hand.

Then the sample submissions in submissions/dl2023-cnn-quiz/, each the template filled in as a student would,
executed once with a plain nbclient kernel (no grader). Expected points per item are in that folder's README.md.

The exam's rules are what this quiz is for: (1) must train a network of the student's own class with a
`torch.nn.Conv2d`, (2) must train no `torch.nn` layer at all (plain tensors or an own class) and give the same
fitted values as the student's (1), (3) continues (1)'s network with SGD and earns follow-through credit, and
Problem 2's statement (2) is void (a typo): everyone gets its points. Every training run is tiny (100 images of
8x8, 10 + 10 + 5 updates): the solution runs in a few seconds on a CPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from exam_files import exam_notebook, marked, write_exam
from nbformat.v4 import new_code_cell, new_markdown_cell

from grader.notebook.answers import CODE_PLACEHOLDER, TEXT_PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2023-cnn-quiz"
SUBMISSIONS = ROOT / "submissions" / "dl2023-cnn-quiz"

SEED = "torch.manual_seed(1)"

TITLE = """# DL2023 퀴즈: CNN (Quiz: CNN)

- 코드 문항은 문항 아래 셀의 `# YOUR CODE HERE`를 지우고 코드를 쓰세요. (Replace `# YOUR CODE HERE` with your code.)
- 참/거짓 문항은 문항 셀의 `YOUR ANSWER HERE`를 지우고 `O` 또는 `X`로 답하세요. \
(Answer true/false items with `O` or `X` in place of `YOUR ANSWER HERE`.)
- 변수 이름은 자유롭게 정해도 됩니다. (Name your variables as you like.)"""

PROBLEM_1 = """## `1`. CNN으로 막대 방향 분류 (classifying bars with a CNN). (85점)

`X`는 8x8 흑백 이미지 100장이다: 앞의 50장은 세로 막대(class 0), 뒤의 50장은 가로 막대(class 1). \
(`X` holds 100 grey 8x8 images: vertical bars (class 0), then horizontal bars (class 1).)"""
DATA = """import torch
torch.manual_seed(0)
X = torch.randn(100, 1, 8, 8) * 0.3
X[:50, 0, :, 3:5] += 1.0
X[50:, 0, 3:5, :] += 1.0
y = torch.tensor([0] * 50 + [1] * 50)
X.shape, y.shape"""

QUESTIONS_1 = {
    "1.1": ("`(1)` `torch.nn.Module`을 상속한 클래스를 직접 정의하여 `Conv2d(1,2,3)` → ReLU → flatten → `Linear(72,2)` "
            "네트워크를 만들어라 (시드 직후 `Conv2d`, `Linear`의 순서로 선언). 손실함수는 cross entropy, 옵티마이저는 "
            "`torch.optim.Adam`(학습률 0.01)으로 전체 자료를 10 에폭 학습하라. 직접 정의한 클래스가 아니거나 "
            "(예: `torch.nn.Sequential`만 사용) 사전학습 모형(`torchvision.models`)을 쓰면 이 문항은 0점이다.\n\n"
            "(Define your own `torch.nn.Module` subclass: `Conv2d(1,2,3)`, ReLU, flatten, `Linear(72,2)`, declared in "
            "that order right after the seed. Train 10 epochs on all of `X` with cross entropy and Adam, lr=0.01. "
            "A network that is not your own class (`torch.nn.Sequential` alone) or a pretrained model gets 0.)"),
    "1.2": ("`(2)` (1)과 같은 네트워크를 `torch.nn`의 레이어 없이 `torch.nn.functional.conv2d`와 행렬곱으로 구현하여 "
            "(1)과 같은 방법으로 10 에폭 학습하라. 파라메터는 텐서로 두어도 되고 직접 정의한 클래스에 두어도 된다 "
            "(클래스는 필요 없다). 초기값은 시드 직후 (1)의 네트워크를 하나 더 만들어 복사하라 (그 네트워크는 초기값 "
            "복사에만 쓰고 학습하지 말 것). 적합된 값은 (1)의 적합된 값과 같아야 한다. `torch.nn.Conv2d`나 "
            "`torch.nn.Linear`를 학습하면 0점이다.\n\n"
            "(Do (1) again without `torch.nn` layers: `torch.nn.functional.conv2d` and a matrix product; plain tensors "
            "are fine, no class needed. Copy the initial values from a second network of (1) made right after the "
            "seed, and do not train that one. The fitted values must be those of your (1). Training "
            "`torch.nn.Conv2d` or `torch.nn.Linear` here gets 0.)"),
    "1.3": ("`(3)` (1)에서 학습된 네트워크를 이어서 `torch.optim.SGD`(학습률 0.1)로 5번 더 갱신하라.\n\n"
            "(Continue training (1)'s network with SGD, lr=0.1, for 5 more updates.)"),
}

PROBLEM_2 = "## `2`. 다음을 읽고 참 거짓을 판단하라. (15점)"
QUESTIONS_2 = {
    "2.1": "`(1)` `torch.nn.Conv2d(1,2,3)`의 학습가능한 파라메터 수는 20개이다. (`Conv2d(1,2,3)` has 20 parameters.)",
    # The typo the instructor voided the statement for: the output is 6x6, which makes it neither true as meant
    # nor false as meant ("(100,2,5,5)" was to read "(100,2,6,6)").
    "2.2": ("`(2)` shape이 (100,1,8,8)인 `X`에 `torch.nn.Conv2d(1,2,3)`를 적용한 출력의 shape은 (100,2,5,5)이다. "
            "(`Conv2d(1,2,3)` maps `X` of shape (100,1,8,8) to shape (100,2,5,5).)"),
    "2.3": ("`(3)` `torch.nn.CrossEntropyLoss`에는 softmax를 취한 확률을 넣어야 한다. "
            "(`CrossEntropyLoss` must be given probabilities after softmax.)"),
    "2.4": ("`(4)` 합성곱 층의 가중치는 이미지의 모든 위치에서 공유된다. "
            "(A convolution's weights are shared across positions.)"),
    "2.5": "`(5)` `torch.nn.MaxPool2d(2)`는 학습가능한 파라메터를 가진다. (`MaxPool2d(2)` has trainable parameters.)",
}
QUESTIONS = {**QUESTIONS_1, **QUESTIONS_2}
INLINE = set(QUESTIONS_2)

NET = """class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.linr = torch.nn.Linear(72, 2)

    def forward(self, X):
        return self.linr(torch.relu(self.conv(X)).flatten(1))
"""
SOLUTION = {
    "1.1": NET + """
net = Net()
loss_fn = torch.nn.CrossEntropyLoss()
optimizr = torch.optim.Adam(net.parameters(), lr=0.01)
for epoc in range(10):
    loss = loss_fn(net(X), y)
    loss.backward()
    optimizr.step()
    optimizr.zero_grad()
print(loss.item())""",
    "1.2": """init = Net()  # only for the initial values
W1 = init.conv.weight.detach().clone().requires_grad_()
b1 = init.conv.bias.detach().clone().requires_grad_()
W2 = init.linr.weight.detach().clone().requires_grad_()
b2 = init.linr.bias.detach().clone().requires_grad_()
optimizr2 = torch.optim.Adam([W1, b1, W2, b2], lr=0.01)
for epoc in range(10):
    out = torch.relu(torch.nn.functional.conv2d(X, W1, b1)).flatten(1) @ W2.T + b2
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    optimizr2.step()
    optimizr2.zero_grad()
print(loss.item())""",
    "1.3": """optimizr3 = torch.optim.SGD(net.parameters(), lr=0.1)
for epoc in range(5):
    loss = loss_fn(net(X), y)
    loss.backward()
    optimizr3.step()
    optimizr3.zero_grad()
print(loss.item())""",
    "2.1": "**답: O**",  # 2*1*3*3 + 2 = 20
    "2.2": "**답: X**",  # void: (100,2,6,6)
    "2.3": "**답: X**",  # it takes logits and applies log_softmax itself
    "2.4": "**답: O**",
    "2.5": "**답: X**",
}
SETUP = {"1.1": SEED, "1.2": SEED}
KEY_2 = {"2.1": True, "2.2": False, "2.3": False, "2.4": True, "2.5": False}






def master() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(TITLE), new_markdown_cell(PROBLEM_1), new_code_cell(DATA)]
    for item, question in QUESTIONS.items():
        if item == "2.1":
            cells.append(new_markdown_cell(PROBLEM_2))
        tags = {"tags": [f"question:{item}"]}
        if item in INLINE:
            cells.append(new_markdown_cell(question + "\n\n" + marked(SOLUTION[item]), metadata=tags))
        else:
            cells.append(new_markdown_cell(question, metadata=tags))
            cells.append(new_code_cell(marked(SOLUTION[item], SETUP.get(item))))
    return exam_notebook(cells)




def fill(template_nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The template with the placeholders replaced, as a student types over them."""
    nb = copy.deepcopy(template_nb)
    for cell in nb.cells:
        item = next((tag.split(":", 1)[1] for tag in cell.metadata.get("tags", [])
                     if tag.startswith(("question:", "answer:"))), None)
        if item in answers and (CODE_PLACEHOLDER in cell.source or TEXT_PLACEHOLDER in cell.source):
            placeholder = CODE_PLACEHOLDER if cell.cell_type == "code" else TEXT_PLACEHOLDER
            cell.source = cell.source.replace(placeholder, answers[item])
    return nb


def true_false(true: str = "O", false: str = "X", wrong: tuple[str, ...] = ()) -> dict[str, str]:
    return {item: (true if value != (item in wrong) else false) for item, value in KEY_2.items()}


# Her own names, a hand-written cross entropy in (1) (no loss function: the network's output is the fitted values),
# plain tensors under other names in (2).
OWN_NAMES_1 = """class MyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 2, 3)
        self.fc = torch.nn.Linear(72, 2)

    def forward(self, images):
        return self.fc(torch.relu(self.c1(images)).flatten(1))

model = MyCNN()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for i in range(10):
    logits = model(X)
    nll = -torch.log_softmax(logits, dim=1)[torch.arange(100), y].mean()
    opt.zero_grad()
    nll.backward()
    opt.step()"""
OWN_NAMES_2 = """copy_from = MyCNN()
w_conv = copy_from.c1.weight.detach().clone().requires_grad_(True)
b_conv = copy_from.c1.bias.detach().clone().requires_grad_(True)
w_fc = copy_from.fc.weight.detach().clone().requires_grad_(True)
b_fc = copy_from.fc.bias.detach().clone().requires_grad_(True)
opt2 = torch.optim.Adam([w_conv, b_conv, w_fc, b_fc], lr=0.01)
F = torch.nn.functional
for i in range(10):
    scores = F.linear(F.relu(F.conv2d(X, w_conv, b_conv)).flatten(1), w_fc, b_fc)
    nll2 = F.cross_entropy(scores, y)
    opt2.zero_grad()
    nll2.backward()
    opt2.step()"""
OWN_NAMES_3 = """sgd = torch.optim.SGD(model.parameters(), lr=0.1)
for i in range(5):
    nll = -torch.log_softmax(model(X), dim=1)[torch.arange(100), y].mean()
    sgd.zero_grad()
    nll.backward()
    sgd.step()"""

SEQUENTIAL_1 = """net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(72, 2))
loss_fn = torch.nn.CrossEntropyLoss()
optimizr = torch.optim.Adam(net.parameters(), lr=0.01)
for epoc in range(10):
    loss = loss_fn(net(X), y)
    loss.backward()
    optimizr.step()
    optimizr.zero_grad()"""
SEQUENTIAL_2 = SOLUTION["1.2"].replace(
    "init = Net()  # only for the initial values",
    "init = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(72, 2))"
).replace("init.conv.", "init[0].").replace("init.linr.", "init[3].")

# (2) trains a second network of torch.nn layers: the same fitted values, but against the question's rule.
LAYERS_2 = """net2 = Net()
optimizr2 = torch.optim.Adam(net2.parameters(), lr=0.01)
for epoc in range(10):
    loss = torch.nn.functional.cross_entropy(net2(X), y)
    loss.backward()
    optimizr2.step()
    optimizr2.zero_grad()"""

# (2) with fresh random tensors instead of (1)'s initial values: not the fitted values of (1).
RANDOM_2 = """W1 = (torch.randn(2, 1, 3, 3) * 0.3).requires_grad_()
b1 = torch.zeros(2, requires_grad=True)
W2 = (torch.randn(2, 72) * 0.1).requires_grad_()
b2 = torch.zeros(2, requires_grad=True)
optimizr2 = torch.optim.Adam([W1, b1, W2, b2], lr=0.01)
for epoc in range(10):
    out = torch.relu(torch.nn.functional.conv2d(X, W1, b1)).flatten(1) @ W2.T + b2
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    optimizr2.step()
    optimizr2.zero_grad()"""


def samples(template_nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    out: dict[str, nbformat.NotebookNode] = {}
    out["강민지(2024001).ipynb"] = fill(template_nb, {
        "1.1": OWN_NAMES_1, "1.2": OWN_NAMES_2, "1.3": OWN_NAMES_3, **true_false()})
    out["배도현(2024002).ipynb"] = fill(template_nb, {
        **SOLUTION, "1.1": SEQUENTIAL_1, "1.2": SEQUENTIAL_2, **true_false("참", "거짓")})
    out["신예린(2024003).ipynb"] = fill(template_nb, {
        **SOLUTION, "1.1": SOLUTION["1.1"].replace("lr=0.01", "lr=0.1"),
        "1.2": SOLUTION["1.2"].replace("lr=0.01", "lr=0.1"), **true_false("True", "False", wrong=("2.1", "2.2"))})
    out["조하준(2024004).ipynb"] = fill(template_nb, {**SOLUTION, "1.2": LAYERS_2, **true_false("o", "x")})
    void_unanswered = {item: answer for item, answer in {**SOLUTION, **true_false()}.items() if item != "2.2"}
    out["홍서우(2024005).ipynb"] = fill(template_nb, {
        **void_unanswered, "1.2": RANDOM_2, "1.3": SOLUTION["1.3"].replace("range(5)", "range(6)")})
    return out


def main() -> None:
    write_exam(RUBRIC, SUBMISSIONS, master(), samples)


if __name__ == "__main__":
    main()
