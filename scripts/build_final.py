"""Build the DL2022 final exam (RNN/LSTM next-character prediction) as data.

    .venv/bin/python scripts/build_final.py

Writes, under rubrics/dl2022-final/:

- master.ipynb: the instructor's master notebook. Each question is a markdown
  cell tagged `question:P.N`; solution code sits in code cells between the
  lines `### BEGIN SOLUTION` and `### END SOLUTION` (the seed lines students
  are given stay outside); True/False, "choose all" and free-text answers are
  written inline in the question's own markdown cell between the same lines.
  Stored executed (a plain kernel), so it shows the reference numbers.
- template.ipynb and solution.ipynb, by `grader assign` from the master
  (solutions replaced by `# YOUR CODE HERE` / `YOUR ANSWER HERE`, or their
  markers removed). rubric.yaml is written by hand and kept as it is.

Then the sample submissions in submissions/dl2022-final/, each the template
filled in as a student would (two with the template's tags stripped, found
by the exam's headings), executed once with a plain nbclient kernel (no
grader) so that they carry stored outputs like real submissions. Expected
points per item are in submissions/dl2022-final/README.md.

Cell ids are derived from positions so that a rebuild writes the same files.
Every training run is tiny: the whole solution runs in a few seconds on CPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from exam_files import exam_notebook, marked, write_exam
from nbformat.v4 import new_code_cell, new_markdown_cell

from grader.notebook.answers import CODE_PLACEHOLDER, TEXT_PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-final"
SUBMISSIONS = ROOT / "submissions" / "dl2022-final"

SEED = "torch.manual_seed(43052)"

TITLE = """# DL2022 기말고사 (Final)

- 코드 문항은 문항 아래 셀의 `# YOUR CODE HERE`를 지우고 코드를 쓰세요. 셀을 더 만들어도 됩니다. \
(Replace `# YOUR CODE HERE` in the cell under each question with your code; add cells as you need.)
- 참/거짓, 객관식, 서술형 문항은 문항 셀의 `YOUR ANSWER HERE`를 지우고 답을 쓰세요. 참/거짓은 `O` 또는 `X`로 답하세요. \
(Replace `YOUR ANSWER HERE` in the question cell; answer true/false items with `O` or `X`.)
- 변수 이름은 문제에 주어진 것을 그대로 쓰세요 (`x`, `y`, `rnn`, `linr`, `yhat`, `lstm`, `linr2`, `yhat2`). \
(Keep the variable names the questions give.)
- 제출 전에 `Restart & Run All`로 위에서부터 실행되는지 확인하세요. \
(Before submitting, check that the notebook runs top to bottom.)"""

PROBLEM_1 = """## `1`. RNN과 LSTM을 이용한 다음 문자 예측 (next-character prediction). (60점)

아래와 같이 `a`, `b`, `c`, `d`가 반복되는 문자열 `txt`가 주어졌다. 현재 문자로 다음 문자를 예측하는 모형을 적합하라. \
(The string `txt` below repeats a, b, c, d. Fit models that predict the next character from the current one.)"""
DATA = "txt = list('abcd')*25\ntxt[:10]"

QUESTIONS_1 = {
    "1.1": ("`(1)` `a`→0, `b`→1, `c`→2, `d`→3 으로 매핑하여 `txt[:-1]`을 원-핫 인코딩(one-hot encoding)한 float 텐서 "
            "`x`와 `txt[1:]`을 원-핫 인코딩한 float 텐서 `y`를 만들어라. `x`와 `y`의 shape은 (99,4)이다.\n\n"
            "(Map a→0, b→1, c→2, d→3. `x`: the one-hot float tensor of `txt[:-1]`; `y`: the one-hot float tensor "
            "of `txt[1:]`; both of shape (99, 4).)"),
    "1.2": ("`(2)` `torch.manual_seed(43052)`로 시드를 고정한 직후 `rnn = torch.nn.RNN(4,3)`과 "
            "`linr = torch.nn.Linear(3,4)`를 이 순서대로 선언하라 (다른 레이어는 선언하지 말 것). "
            "`rnn`의 학습가능한 파라메터 수는 몇 개인가?\n\n"
            "(Right after the seed, declare `rnn` and then `linr`, nothing else. How many trainable parameters "
            "does `rnn` have?)"),
    "1.3": ("`(3)` 손실함수는 `torch.nn.CrossEntropyLoss()`, 옵티마이저는 `rnn`과 `linr`의 파라메터를 모두 학습하는 "
            "`torch.optim.Adam`(학습률 0.1)으로 하여 200 에폭 학습하라. 매 에폭마다 전체 시퀀스 `x`를 입력한다 "
            "(`hidden, hT = rnn(x)`, 출력은 `linr(hidden)`). 학습 후 적합된 확률 "
            "`yhat = torch.nn.functional.softmax(linr(rnn(x)[0]), dim=1)`을 구하고 `yhat[:4]`를 출력하라.\n\n"
            "(Loss `CrossEntropyLoss`; Adam with lr=0.1 over the parameters of both `rnn` and `linr`; 200 epochs, "
            "the whole sequence each epoch. Then compute the fitted probabilities `yhat` and print `yhat[:4]`.)"),
    "1.4": ("`(4)` (3)을 LSTM으로 반복하라. `torch.manual_seed(43052)`로 시드를 고정한 직후 "
            "`lstm = torch.nn.LSTM(4,3)`과 `linr2 = torch.nn.Linear(3,4)`를 이 순서대로 선언하고, "
            "같은 손실함수와 `torch.optim.Adam`(학습률 0.1)으로 200 에폭 학습하라. `lstm`의 학습가능한 파라메터 수를 "
            "구하고, 적합된 확률 `yhat2 = torch.nn.functional.softmax(linr2(lstm(x)[0]), dim=1)`을 구하라.\n\n"
            "(Repeat (3) with an LSTM: seed, then `lstm` and `linr2`, the same loss, Adam with lr=0.1, 200 epochs. "
            "Give the number of trainable parameters of `lstm` and the fitted probabilities `yhat2`.)"),
    "1.5": ("`(5)` 이 자료에서는 (3)의 RNN과 (4)의 LSTM 모두 다음 문자를 100% 맞춘다. LSTM의 장점이 드러나지 않는 "
            "이유를 자료의 구조로 간단히 설명하라.\n\n"
            "(Both models predict every next character of this data. In a sentence or two: why does the LSTM's "
            "advantage not show here?)"),
}

PROBLEM_2 = "## `2`. 다음을 읽고 참 거짓을 판단하라. (30점)"
QUESTIONS_2 = {
    "2.1": "`(1)` `torch.nn.RNN(5,2)`의 학습가능한 파라메터 수는 18개이다. (`torch.nn.RNN(5,2)` has 18 trainable parameters.)",
    "2.2": ("`(2)` `torch.nn.LSTM(5,2)`의 학습가능한 파라메터 수는 `torch.nn.RNN(5,2)`의 학습가능한 파라메터 수의 "
            "정확히 4배이다. (`torch.nn.LSTM(5,2)` has exactly four times as many trainable parameters as "
            "`torch.nn.RNN(5,2)`.)"),
    "2.3": ("`(3)` `hidden, hT = rnn(x)`로 계산한 RNN의 시점 $t$의 hidden state $h_t$는 그 시점의 입력 $x_t$에만 "
            "의존하고, 이전 시점의 입력 $x_1,\\dots,x_{t-1}$에는 의존하지 않는다. (The RNN's hidden state at time "
            "$t$ depends only on $x_t$, not on earlier inputs.)"),
    "2.4": ("`(4)` shape이 (99,4)인 텐서 `z`에 대하여 `torch.nn.functional.softmax(z, dim=1)`의 각 행의 합은 1이다. "
            "(For `z` of shape (99, 4), each row of `torch.nn.functional.softmax(z, dim=1)` sums to 1.)"),
    "2.5": ("`(5)` `loss_fn = torch.nn.CrossEntropyLoss()`로 학습할 때, `loss_fn(output, y)`의 `output`에는 softmax를 "
            "취한 확률을 넣어야 한다. (`torch.nn.CrossEntropyLoss` must be given probabilities after softmax as its "
            "input.)"),
}

PROBLEM_3 = "## `3`. 다음 중 옳은 것을 모두 고르라. (10점)"
QUESTIONS_3 = {
    "3.1": """`(1)` 다음 중 RNN과 LSTM에 대한 설명으로 옳은 것을 모두 고르라. (Choose all that are correct.)

1. LSTM은 forget gate, input gate, output gate를 가진다. (An LSTM has a forget, an input and an output gate.)
2. `rnn = torch.nn.RNN(4,3)`에 shape이 (99,4)인 `x`를 입력하면 `rnn(x)[0]`의 shape은 (99,4)이다. \
(For `x` of shape (99, 4), `rnn(x)[0]` has shape (99, 4).)
3. `hidden, hT = rnn(x)`에서 `hT[0]`과 `hidden[-1]`은 같은 값을 가진다. (`hT[0]` equals `hidden[-1]`.)
4. LSTM은 cell state를 이용하여 RNN의 기울기 소실(vanishing gradient) 문제를 완화한다. \
(The LSTM's cell state eases the RNN's vanishing gradient problem.)
5. `torch.nn.RNN`의 기본 활성화 함수(nonlinearity)는 ReLU이다. (`torch.nn.RNN`'s default nonlinearity is ReLU.)""",
}
QUESTIONS = {**QUESTIONS_1, **QUESTIONS_2, **QUESTIONS_3}
INLINE = {"1.5", *QUESTIONS_2, *QUESTIONS_3}  # answered in the question's own markdown cell

# The instructor's solution: code between the markers (seed lines outside) and inline answers.
SOLUTION = {
    "1.1": """mapping = {'a':0, 'b':1, 'c':2, 'd':3}
x = torch.nn.functional.one_hot(torch.tensor([mapping[c] for c in txt[:-1]]), num_classes=4).float()
y = torch.nn.functional.one_hot(torch.tensor([mapping[c] for c in txt[1:]]), num_classes=4).float()
x.shape, y.shape""",
    "1.2": """rnn = torch.nn.RNN(4,3)
linr = torch.nn.Linear(3,4)
sum(p.numel() for p in rnn.parameters())""",
    "1.3": """device = 'cuda' if torch.cuda.is_available() else 'cpu'  # the reference's values come from the CPU
x, y, rnn, linr = x.to(device), y.to(device), rnn.to(device), linr.to(device)
loss_fn = torch.nn.CrossEntropyLoss()
optimizr = torch.optim.Adam(list(rnn.parameters())+list(linr.parameters()), lr=0.1)
for epoc in range(200):
    ## 1
    hidden, hT = rnn(x)
    output = linr(hidden)
    ## 2
    loss = loss_fn(output, y)
    ## 3
    loss.backward()
    ## 4
    optimizr.step()
    optimizr.zero_grad()
yhat = torch.nn.functional.softmax(linr(rnn(x)[0]), dim=1)
print(yhat[:4])""",
    "1.4": """lstm = torch.nn.LSTM(4,3).to(device)
linr2 = torch.nn.Linear(3,4).to(device)
print(sum(p.numel() for p in lstm.parameters()))
loss_fn = torch.nn.CrossEntropyLoss()
optimizr2 = torch.optim.Adam(list(lstm.parameters())+list(linr2.parameters()), lr=0.1)
for epoc in range(200):
    ## 1
    hidden, (hT, cT) = lstm(x)
    output = linr2(hidden)
    ## 2
    loss = loss_fn(output, y)
    ## 3
    loss.backward()
    ## 4
    optimizr2.step()
    optimizr2.zero_grad()
yhat2 = torch.nn.functional.softmax(linr2(lstm(x)[0]), dim=1)
yhat2[:4]""",
    "1.5": ("**답:** 이 자료에서 다음 문자는 현재 문자 하나만으로 결정된다 (a→b→c→d→a, 주기 4). 먼 과거를 기억할 필요가 "
            "없으므로 (장기 의존성이 없으므로) 단순한 RNN으로도 충분하고, 장기 기억을 위한 LSTM의 cell state와 게이트의 "
            "장점이 드러나지 않는다."),
    "2.1": "**답: O**",  # 5*2 + 2*2 + 2 + 2 = 18
    "2.2": "**답: O**",  # 4*(5*2 + 2*2 + 2 + 2) = 72
    "2.3": "**답: X**",  # h_t = tanh(W x_t + U h_{t-1} + b) depends on all earlier inputs through h_{t-1}
    "2.4": "**답: O**",
    "2.5": "**답: X**",  # it takes logits (unnormalised scores) and applies log_softmax itself
    "3.1": "**답: 1, 3, 4**",  # 2: (99, 3); 5: tanh
}
SETUP = {"1.2": SEED, "1.4": SEED}  # given to the students: outside the markers
KEY_2 = {"2.1": True, "2.2": True, "2.3": False, "2.4": True, "2.5": False}


# ---------------------------------------------------------------- notebooks







def master() -> nbformat.NotebookNode:
    cells = [new_code_cell("import torch"), new_markdown_cell(TITLE), new_markdown_cell(PROBLEM_1), new_code_cell(DATA)]
    for item, question in QUESTIONS.items():
        if item == "2.1":
            cells.append(new_markdown_cell(PROBLEM_2))
        elif item == "3.1":
            cells.append(new_markdown_cell(PROBLEM_3))
        tags = {"tags": [f"question:{item}"]}
        if item in INLINE:
            cells.append(new_markdown_cell(question + "\n\n" + marked(SOLUTION[item]), metadata=tags))
        else:
            cells.append(new_markdown_cell(question, metadata=tags))
            cells.append(new_code_cell(marked(SOLUTION[item], SETUP.get(item))))
    return exam_notebook(cells)




# ---------------------------------------------------------------- samples

def _answer_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Item -> the template cell holding its placeholder (a code cell, or the question's own markdown cell)."""
    return {tag.split(":", 1)[1]: cell for cell in nb.cells for tag in cell.metadata.get("tags", [])
            if tag.startswith(("question:", "answer:"))
            and (CODE_PLACEHOLDER in cell.source or TEXT_PLACEHOLDER in cell.source)}


def fill(template_nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The template with the placeholders replaced, as a student types over them."""
    nb = copy.deepcopy(template_nb)
    for item, cell in _answer_cells(nb).items():
        if item in answers:
            placeholder = CODE_PLACEHOLDER if cell.cell_type == "code" else TEXT_PLACEHOLDER
            cell.source = cell.source.replace(placeholder, answers[item])
    return nb


def add_cell_after(nb: nbformat.NotebookNode, item: str, cell: nbformat.NotebookNode) -> None:
    """A cell the student added right under the item's answer cell."""
    index = max(i for i, c in enumerate(nb.cells)
                if {f"question:{item}", f"answer:{item}"} & set(c.metadata.get("tags", [])))
    cell.id = f"{nb.cells[index].id}-{item.replace('.', '-')}-added"
    nb.cells.insert(index + 1, cell)


def strip_tags(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Copied into a fresh notebook (Colab): the template's cell tags are gone."""
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    return nb


def true_false(true: str, false: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {item: (true if value else false) for item, value in KEY_2.items() if item not in skip}


REFERENCE_ANSWERS = {**SOLUTION}
EXPLANATION = ("다음 문자가 현재 문자 하나로 정해지므로 (a 다음은 항상 b) 먼 과거를 기억할 필요가 없다. "
               "그래서 장기 의존성을 다루는 LSTM의 장점이 나타나지 않는다.")

ONE_HOT_EYE = """idx = {'a':0, 'b':1, 'c':2, 'd':3}
x = torch.eye(4)[[idx[c] for c in txt[:-1]]]
y = torch.eye(4)[[idx[c] for c in txt[1:]]]
x[:5]"""

# Two optimizers (Adam works elementwise: the same updates), class-index targets, a displayed result.
TWO_OPTIMIZERS = """loss_fn = torch.nn.CrossEntropyLoss()
opt1 = torch.optim.Adam(rnn.parameters(), lr=0.1)
opt2 = torch.optim.Adam(linr.parameters(), lr=0.1)
target = y.argmax(axis=1)
for epoch in range(200):
    hidden, hT = rnn(x)
    loss = loss_fn(linr(hidden), target)
    opt1.zero_grad(); opt2.zero_grad()
    loss.backward()
    opt1.step(); opt2.step()
yhat = torch.nn.functional.softmax(linr(rnn(x)[0]), dim=1)
yhat[:4]"""

# yhat taken from the last epoch's forward pass, i.e. before the 200th update.
LAST_EPOCH = """loss_fn = torch.nn.CrossEntropyLoss()
optimizr = torch.optim.Adam(list(rnn.parameters())+list(linr.parameters()), lr=0.1)
for epoc in range(200):
    hidden, hT = rnn(x)
    output = linr(hidden)
    loss = loss_fn(output, y)
    loss.backward()
    optimizr.step()
    optimizr.zero_grad()
yhat = torch.nn.functional.softmax(output, dim=1)
print(yhat[:4])"""

CUDA = {
    "1.1": SOLUTION["1.1"].replace("x.shape, y.shape", "if torch.cuda.is_available():\n    x, y = x.cuda(), y.cuda()\n"
                                                        "x.shape, y.shape"),
    "1.2": SOLUTION["1.2"].replace("\nsum(", "\nif torch.cuda.is_available():\n    rnn.cuda()\n    linr.cuda()\nsum("),
    "1.4": SOLUTION["1.4"].replace("\nprint(sum(", "\nif torch.cuda.is_available():\n    lstm.cuda()\n    linr2.cuda()\n"
                                                   "print(sum("),
}


def samples(template_nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    out: dict[str, nbformat.NotebookNode] = {}
    out["김하늘(2023001).ipynb"] = fill(template_nb, REFERENCE_ANSWERS)

    out["이도윤(2023002).ipynb"] = fill(template_nb, {
        **REFERENCE_ANSWERS, "1.1": ONE_HOT_EYE,
        "1.3": SOLUTION["1.3"].replace("lr=0.1", "lr=0.01"),
        "1.5": EXPLANATION, **true_false("O", "X"), "3.1": "1번, 3번, 4번"})

    out["박서진(2023003).ipynb"] = fill(template_nb, {
        **REFERENCE_ANSWERS, "1.4": SOLUTION["1.4"].replace("LSTM(4,3)", "LSTM(4,4)").replace("Linear(3,4)", "Linear(4,4)"),
        "1.5": "LSTM은 장기기억에 유리하지만 이 자료는 단순해서 RNN도 잘 맞춘다.", **true_false("참", "거짓")})

    # 2.1 and 2.3 answered in code cells added under the question, the placeholder left as it was.
    varied = fill(template_nb, {**{key: value for key, value in REFERENCE_ANSWERS.items() if key not in ("2.1", "2.3")},
                                "1.5": EXPLANATION, "2.2": "정답은 **O** 입니다.", "2.4": "잘 모르겠음", "2.5": "⭕",
                                "3.1": "1, 3"})
    add_cell_after(varied, "2.1", new_code_cell("True"))
    add_cell_after(varied, "2.3", new_code_cell("ans = False"))
    out["최유진(2023004).ipynb"] = varied

    out["정민서(2023005).ipynb"] = fill(template_nb, {
        **REFERENCE_ANSWERS, "1.2": SOLUTION["1.2"].replace("rnn = torch.nn.RNN", "rnn = nn.RNN"),  # NameError: nn
        "1.5": EXPLANATION, **true_false("True", "False")})

    out["한지우(2023006).ipynb"] = strip_tags(fill(template_nb, {
        **REFERENCE_ANSWERS, **CUDA, "1.5": EXPLANATION, **true_false("**O**", "**X**"), "3.1": "[1, 3, 4]"}))

    unanswered = {key: value for key, value in REFERENCE_ANSWERS.items() if key not in ("1.4", "2.5")}
    out["윤채원(2023007).ipynb"] = fill(template_nb, {**unanswered, "1.5": EXPLANATION})

    out["장준서(2023008).ipynb"] = strip_tags(fill(template_nb, {
        **REFERENCE_ANSWERS, "1.3": TWO_OPTIMIZERS, "1.5": EXPLANATION,
        **true_false("True", "False"), "3.1": "1, 2, 3, 4"}))

    out["오세영(2023009).ipynb"] = fill(template_nb, {
        **REFERENCE_ANSWERS, "1.3": LAST_EPOCH, "1.5": EXPLANATION, **true_false("o", "x")})
    return out


def main() -> None:
    write_exam(RUBRIC, SUBMISSIONS, master(), samples)


if __name__ == "__main__":
    main()
