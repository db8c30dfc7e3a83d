"""How well the knowledge base answers: tests/faq_eval/shop.yaml through each matching engine.

    python bench/faq.py                    # bigrams and words
    python bench/faq.py --engines bigrams words embedding both

Thresholds are tuned on half the questions (every other one) and reported on the other half.
Per threshold on the held-out half: precision of automatic answers (right ones over all given,
unanswerable questions included), answerable questions answered right automatically,
unanswerable questions answered automatically, and the right entry among the up to 3 suggestions
at or above the suggestion threshold. Time per question with the knowledge base padded to 1,000
entries with made-up ones. Other rules for answering at once: bench/faq_rules.py.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent.parent))
from handlers.faq.base import make_engine
from handlers.faq.engine import Engine  # noqa: E402

SET = Path(__file__).parent.parent / "tests" / "faq_eval" / "shop.yaml"
GRID = [round(0.025 * i, 3) for i in range(37)]  # 0 .. 0.90
TARGETS = {"precision": 0.95, "answered": 0.50, "unanswerable": 0.05, "top3": 0.95}


@dataclass
class Question:
    text: str
    entry: int | None  # the right entry, None: no entry answers it
    hard: bool = False
    ranked: list[tuple[int, float]] | None = None


def load(path: Path = SET) -> tuple[list[list[str]], list[str], list[Question]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = [[e["q"], *e.get("similar", [])] for e in data["entries"]]
    answers = [e["a"] for e in data["entries"]]
    qs = [Question(t, i) for i, e in enumerate(data["entries"]) for t in e["asked"]]
    qs += [Question(t, None, hard=True) for t in data["unanswerable"]["hard"]]
    qs += [Question(t, None) for t in data["unanswerable"]["other"]]
    return entries, answers, qs


def halves(qs: list[Question]) -> tuple[list[Question], list[Question]]:
    """Tuning half and held-out half: every other question of each entry and of the unanswerable."""
    return qs[0::2], qs[1::2]


def measure(qs: list[Question], high: float, low: float) -> dict[str, float]:
    known = [q for q in qs if q.entry is not None]
    unknown = [q for q in qs if q.entry is None]
    auto = [q for q in qs if q.ranked and q.ranked[0][1] >= high]
    right = [q for q in auto if q.entry == q.ranked[0][0]]  # type: ignore[index]
    top3 = [q for q in known if any(i == q.entry and s >= low for i, s in q.ranked or [])]
    return {
        "precision": len(right) / len(auto) if auto else 1.0,
        "answered": len(right) / len(known),
        "unanswerable": sum(1 for q in auto if q.entry is None) / len(unknown),
        "hard": sum(1 for q in auto if q.hard) / max(1, sum(1 for q in unknown if q.hard)),
        "top3": len(top3) / len(known),
    }


def tune(qs: list[Question]) -> tuple[float, float]:
    """The lowest answer threshold meeting the precision and unanswerable targets on `qs`, and the
    highest suggestion threshold (up to it) that keeps the right entry among the suggestions."""
    ok = [t for t in GRID if (m := measure(qs, t, 0))["precision"] >= 0.95 and m["unanswerable"] <= 0.05]
    high = ok[0] if ok else 1.01
    lows = [t for t in GRID if t <= high and measure(qs, high, t)["top3"] >= 0.95]
    return high, (lows[-1] if lows else GRID[0])


def padded(entries: list[list[str]], answers: list[str], size: int = 1000) -> tuple[list[list[str]], list[str]]:
    """The shop's entries plus made-up ones of the same shape, up to `size`."""
    goods = (
        "手机 耳机 充电器 外套 衬衫 连衣裙 运动鞋 背包 台灯 电饭煲 咖啡机 床单 枕头 水杯 口红 面霜 玩具 书包 手表 眼镜 "
        "平板 键盘 鼠标 音箱 冰箱 洗衣机 空调 吸尘器 吹风机 剃须刀"
    )
    asks = "颜色 尺寸 材质 重量 功率 容量 保养 清洗 安装 说明书 配件 电池 包装 产地 保质期 味道 噪音 续航 接口 颜值"
    forms = [("{g}的{a}是什么", "{g}{a}怎么样"), ("请问{g}的{a}", "{g}有几种{a}")]
    made = [
        [f.format(g=g, a=a), f2.format(g=g, a=a)]
        for (f, f2), g, a in itertools.product(forms, goods.split(), asks.split())
    ]
    made = made[: max(0, size - len(entries))]
    return entries + made, answers + [f"{qs[0]}: 请查看商品详情页的说明。" for qs in made]


def run(name: str, entries: list[list[str]], answers: list[str], qs: list[Question]) -> dict[str, object]:
    engine: Engine = make_engine(name)
    engine.index(entries, answers)
    for q in qs:
        q.ranked = engine.rank(q.text, k=3)
    tuning, held = halves(qs)
    high, low = tune(tuning)
    engine.index(*padded(entries, answers))
    took = []
    for q in qs:
        start = time.perf_counter()
        engine.rank(q.text, k=3)
        took.append((time.perf_counter() - start) * 1000)
    rows = {t: measure(held, t, min(low, t)) for t in GRID}
    return {"high": high, "low": low, "held": measure(held, high, low), "rows": rows, "ms": took}


def table(name: str, result: dict) -> str:
    lines = [
        f"### {name}: answer at ≥ {result['high']:.3f}, suggest at ≥ {result['low']:.3f} (tuned on half)",
        "",
        "| threshold | precision | answerable answered | unanswerable answered | hard ones answered | top 3 |",
        "|---|---|---|---|---|---|",
    ]
    for t, m in result["rows"].items():
        if (round(t * 40) % 2 or t < 0.3) and t != result["high"]:
            continue  # every 0.05 from 0.30 (none answers right below), and the chosen one
        mark = " ←" if t == result["high"] else ""
        lines.append(
            f"| {t:.3f}{mark} | {m['precision']:.1%} | {m['answered']:.1%} | {m['unanswerable']:.1%} "
            f"| {m['hard']:.1%} | {m['top3']:.1%} |"
        )
    ms = result["ms"]
    lines.append(
        f"\nTime per question at 1,000 entries: mean {statistics.mean(ms):.2f} ms, "
        f"p95 {sorted(ms)[int(0.95 * (len(ms) - 1))]:.2f} ms."
    )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--engines", nargs="+", default=["bigrams", "words"])
    args = p.parse_args()
    entries, answers, qs = load()
    print(
        f"{len(entries)} entries, {sum(q.entry is not None for q in qs)} answerable and "
        f"{sum(q.entry is None for q in qs)} unanswerable questions; figures on the held-out half\n"
    )
    for name in args.engines:
        result = run(name, entries, answers, qs)
        held = result["held"]
        verdict = ", ".join(
            f"{k} {held[k]:.1%} {'ok' if (held[k] <= v if k == 'unanswerable' else held[k] >= v) else 'MISSED'}"
            for k, v in TARGETS.items()
        )
        print(table(name, result))
        print(f"At the chosen thresholds: {verdict}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
