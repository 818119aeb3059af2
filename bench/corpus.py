"""Benchmark corpora: unpack the shared corpus outside the repo, and scale it to N posts.

    python bench/corpus.py --posts 10000 --out /tmp/searchsvc-bench/posts-10000

Scaled posts recombine real paragraphs (mostly Chinese ones) into Hexo-style posts of about
--kb kilobytes, with the front matter shapes of the real posts (categories, tags, authors, dates
spread over years), so text statistics stay those of real posts. Nothing here is committed.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_TAR = HERE.parent.parent / "shared" / "corpus" / "posts.tar.gz"
CACHE = Path("/tmp/searchsvc-bench")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def shared_corpus(cache: Path = CACHE) -> Path:
    """The 5,911 real posts, unpacked once outside the repository."""
    target = cache / "shared-corpus"
    if not (target / "cosx").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(SHARED_TAR) as tar:
            tar.extractall(target, filter="data")
    return target


def paragraphs(source: Path, cache: Path = CACHE) -> list[str]:
    """Paragraphs of visible text that are mostly Chinese, from every post under source (cached)."""
    import hashlib
    import json

    key = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]
    cached = cache / f"paragraphs-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    sys.path.insert(0, str(HERE.parent))
    from searchsvc.ingest.posts import PostError, iter_post_files, load_post

    out = []
    for path in iter_post_files(source):
        try:
            body = load_post(path, source).body
        except PostError:
            continue
        for para in body.split("\n"):
            para = para.strip()
            if len(para) >= 30 and len(_CJK.findall(para)) >= 0.5 * len(para):
                out.append(para)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return out


CATEGORIES = ["新闻", "科技", "经济", "社会", "文化", "体育", "国际", "教育", "健康", "旅行", "美食", "编程"]
TAGS = ["人工智能", "大数据", "数字经济", "城市", "乡村", "数据库", "开源", "云计算", "统计", "新能源", "交通", "文化",
        "教育", "医疗", "环保", "金融", "芯片", "互联网", "航天", "农业"]
AUTHORS = ["新闻编辑部", "林小满", "王大厨", "赵一鸣", "陈晓", "刘洋", "周敏", "孙健"]


def scale(source: Path, out: Path, count: int, kb: float = 6.0, seed: int = 7) -> Path:
    """Write `count` posts of about `kb` KB each, recombined from source's paragraphs."""
    rng = random.Random(seed)
    paras = paragraphs(source)
    if not paras:
        raise SystemExit(f"no Chinese paragraphs under {source}")
    out.mkdir(parents=True, exist_ok=True)
    target = int(kb * 1024)
    for i in range(count):
        body: list[str] = []
        size = 0
        while size < target:
            para = rng.choice(paras)
            body.append(para)
            size += len(para.encode("utf-8"))
        title = body[0][:rng.randint(8, 24)].rstrip("，。、；：").replace("'", "’")
        year = rng.randint(2015, 2026)
        tags = rng.sample(TAGS, rng.randint(0, 3))
        html = rng.random() < 0.5
        text = "".join(f"<p>{p}</p>" for p in body) if html else "\n\n".join(body)
        front = (
            f"---\ntitle: '{title}'\ncategories:\n - {rng.choice(CATEGORIES)}\n"
            + (f"tags: [{', '.join(tags)}]\n" if tags else "")
            + f"author: {rng.choice(AUTHORS)}\ndate: {year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00\n---\n\n"
        )
        (out / f"{year}" / f"post-{i:06d}.md").parent.mkdir(exist_ok=True)
        (out / f"{year}" / f"post-{i:06d}.md").write_text(front + (f"<div>{text}</div>" if html else text) + "\n", encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="folder of real posts (default: the shared corpus)")
    parser.add_argument("--posts", type=int, required=True)
    parser.add_argument("--kb", type=float, default=6.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    source = args.source or shared_corpus()
    scale(source, args.out, args.posts, args.kb)
    print(f"wrote {args.posts} posts of ~{args.kb} KB to {args.out}")


if __name__ == "__main__":
    main()
