#!/usr/bin/env bash
# git_work.sh DIR - the real-programs suite's git workload in a fresh DIR:
# 200 commits with fixed dates, a tag, gc --aggressive, fsck, a clone; prints
# hashes of the history, log, diff and blame (nothing that depends on DIR).
set -u
dir=$1
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
export HOME="$dir/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Swalloc Test" GIT_AUTHOR_EMAIL="test@swalloc.invalid"
export GIT_COMMITTER_NAME="Swalloc Test" GIT_COMMITTER_EMAIL="test@swalloc.invalid"
mkdir -p home repo && cd repo || exit 1
git init -q -b main . || exit 1
git config gc.auto 0
for i in $(seq 1 200); do
    f="file$((i % 10)).txt"
    printf 'commit %d line %d %s\n' "$i" "$((i * i))" "$(printf '%0*d' $((i % 50 + 1)) 0)" >>"$f"
    if [ $((i % 7)) -eq 0 ]; then
        mkdir -p "dir$((i % 5))"
        seq "$i" "$((i * 3))" >"dir$((i % 5))/seq$i.txt"
    fi
    if [ $((i % 13)) -eq 0 ] && [ -e "dir$((i % 5))" ]; then
        git rm -q -r "dir$((i % 5))"
    fi
    git add -A || exit 1
    export GIT_AUTHOR_DATE="@$((1700000000 + i * 60)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i * 60)) +0000"
    git commit -q -m "commit $i" -m "body of commit $i" || exit 1
done
git tag -a -m "tag v1" v1 HEAD~100
git gc --aggressive --quiet || echo "gc failed"
git fsck --full --strict 2>&1 | grep -v '^Checking' ; echo "fsck rc=${PIPESTATUS[0]}"
echo "commits $(git log --oneline | wc -l)"
echo "head $(git rev-parse HEAD)"
echo "tree $(git rev-parse HEAD^{tree})"
echo "tag $(git rev-parse v1^{commit})"
echo "log $(git log --stat --format='%H %an %ad %s' | md5sum | cut -c1-32)"
echo "diff $(git diff v1 HEAD | md5sum | cut -c1-32)"
echo "blame $(git blame -s file3.txt | md5sum | cut -c1-32)"
git clone -q --no-local . ../clone || echo "clone failed"
echo "clone head $(git -C ../clone rev-parse HEAD)"
git -C ../clone fsck --full 2>&1 | grep -v '^Checking'; echo "clone fsck rc=${PIPESTATUS[0]}"
