#!/usr/bin/python3
"""Where a raftnode leader failover's time goes, from a kept bench run with libraft traces.

  LIBRAFT_TRACE=1 BENCH_PHASES=failover BENCH_FO_REPS=7 BENCH_RN_LOG_LEVEL=info BENCH_KEEP=1 \\
      bash bench/run.sh quick > bench.log 2>&1
  /usr/bin/python3 bench/failover_trace.py bench.log WORK_DIR     # WORK_DIR: the "kept" one

For each kill (the time loadgen printed: "killed pid P at MS ms since the epoch") it prints,
in ms after the kill: the age of the last AppendEntries each survivor had from the killed
leader; when the first survivor became a candidate (the end of its election timer) and each
candidacy after it; on the winner, the pre-vote won, the vote requests written (after the
term and vote were stored), the election won, the first commit (the new leader's barrier),
the first client entry submitted; and the first successful write (the kill plus loadgen's
result). Then the median of each stage over the kills. Timestamps: libraft's trace (ns since
the epoch) and loadgen's CLOCK_REALTIME, on the same host.
"""
import re
import statistics
import sys


def load(path):
    events = []
    with open(path, errors='replace') as f:
        for line in f:
            if line.startswith('LIBRAFT'):
                parts = line.split(None, 3)
                events.append((int(parts[1]) / 1e6, parts[3].strip() if len(parts) > 3 else ''))
    return events


def first(events, t0, t1, pattern):
    for t, text in events:
        if t0 <= t <= t1 and re.search(pattern, text):
            return t
    return None


def last(events, t0, t1, pattern):
    found = None
    for t, text in events:
        if t0 <= t <= t1 and re.search(pattern, text):
            found = t
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rounds, cur = [], None
    with open(sys.argv[1]) as f:
        for line in f:
            m = re.search(r'raftnode failover (\d+)/\d+: SIGKILL leader member (\d+)', line)
            if m:
                cur = {'round': int(m.group(1)), 'killed': int(m.group(2))}
                rounds.append(cur)
            m = re.search(r'INFO raftnode_failover_\d+ killed pid \d+ at (\d+) ms', line)
            if m and cur is not None:
                cur['kill'] = int(m.group(1))
            m = re.search(r'RESULT raftnode_failover_\d+_ms ([\d.]+)', line)
            if m and cur is not None and 'ms' not in cur:
                cur['ms'] = float(m.group(1))
    ev = {i: load(f'{sys.argv[2]}/failover/rn{i}.log') for i in (1, 2, 3)}
    stages = {}

    def note(name, value):
        if value is not None:
            stages.setdefault(name, []).append(value)

    for r in rounds:
        if 'kill' not in r or 'ms' not in r:
            print(f"kill {r['round']}: no kill time or result (loadgen without the kill line?)")
            continue
        k, dead = r['kill'], r['killed']
        end = k + r['ms'] + 500
        survivors = [i for i in (1, 2, 3) if i != dead]
        ages = {}
        for i in survivors:
            t = last(ev[i], k - 3000, k, rf'recv append entries from server {dead}\b')
            ages[i] = None if t is None else k - t
        cands = sorted((t - k, i) for i in survivors for t, text in ev[i]
                       if k <= t <= end and ('convert to candidate' in text or 'stay candidate, start election' in text))
        won = [(first(ev[i], k, end, 'convert to leader'), i) for i in survivors]
        won = [w for w in won if w[0] is not None]
        if not won:
            print(f"kill {r['round']}: no new leader in the traces")
            continue
        t_lead, w = min(won)
        t_cand = last(ev[w], k, t_lead, r'convert to candidate|stay candidate')
        t_pre = last(ev[w], k, t_lead, 'pre-vote successful')
        t_vote = first(ev[w], t_pre, t_lead, 'write message|enqueue message') if t_pre else None
        t_commit = first(ev[w], t_lead, end, r'commit \d+ new entr')
        t_submit = first(ev[w], t_lead, end, r'submit \d+ new client')
        t_ok = k + r['ms']

        def rel(t):
            return '   -  ' if t is None else f'{t - k:6.1f}'
        print(f"kill {r['round']} (member {dead}): last message from it "
              + ', '.join(f'm{i} {"-" if a is None else f"{a:.0f}"} ms before' for i, a in ages.items())
              + f"; candidacies {', '.join(f'm{i} {t:.0f}' for t, i in cands)}; winner m{w}: candidate {rel(t_cand)}"
              f" pre-vote won {rel(t_pre)} votes asked {rel(t_vote)} leader {rel(t_lead)}"
              f" first commit {rel(t_commit)} first client entry {rel(t_submit)} first success {r['ms']:6.1f}")
        note('kill -> first candidate', cands[0][0] if cands else None)
        note('first candidate denied (kills)', 1 if cands and cands[0][1] != w or len(cands) > 1 else 0)
        note("winner's candidacy -> leader", t_lead - t_cand if t_cand else None)
        note('pre-vote won -> votes asked (term, vote stored)', t_vote - t_pre if t_vote and t_pre else None)
        note('leader -> first commit', t_commit - t_lead if t_commit else None)
        note('first commit -> first success', t_ok - t_commit if t_commit else None)
        note('first candidate -> first success', t_ok - k - cands[0][0] if cands else None)
    for name, values in stages.items():
        if name.endswith('(kills)'):
            print(f'{name}: {sum(values)} of {len(values)}')
        else:
            print(f'{name}: median {statistics.median(values):.1f} ms (min {min(values):.1f}, '
                  f'max {max(values):.1f}, {len(values)} kills)')


if __name__ == '__main__':
    main()
