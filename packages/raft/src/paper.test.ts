/**
 * Paper tests: one test per rule of the Raft paper (Ongaro & Ousterhout, "In Search of an
 * Understandable Consensus Algorithm", extended version), after etcd-io/raft's
 * raft_paper_test.go. Each test names the section (and figure) it checks.
 */
import { describe, expect, it } from "vitest";
import {
  acceptAndReply,
  b,
  electAndCommitNoop,
  ent,
  ids,
  logTerms,
  msg,
  mulberry32,
  Network,
  newNode,
  nodeWithLog,
  sortMsgs,
  storageWith,
  str,
  TestNode as TN,
  testConfig,
} from "./__tests__/util.js";
import { MessageType, None, StateType } from "./types.js";

const P3 = ids(3);

describe("Figure 3 / §5.1: all servers", () => {
  it.each([
    ["follower", StateType.Follower],
    ["candidate", StateType.Candidate],
    ["leader", StateType.Leader],
  ])("a %s seeing a higher term updates its term and becomes follower", (_name, state) => {
    const n = newNode(1n, P3);
    if (state === StateType.Follower) n.raft.becomeFollower(1, 2n);
    if (state === StateType.Candidate) n.raft.becomeCandidate();
    if (state === StateType.Leader) {
      n.raft.becomeCandidate();
      n.raft.becomeLeader();
    }
    n.rn.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 2 }));
    expect(n.raft.term).toBe(2);
    expect(n.raft.state).toBe(StateType.Follower);
    expect(n.raft.lead).toBe(2n);
  });

  it("a server rejects (ignores) a request with a stale term", () => {
    const n = nodeWithLog(1n, P3, [], { term: 2 });
    const before = n.raft.raftLog.lastIndex();
    n.rn.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 1, entries: [ent(1, 1)] }));
    expect(n.raft.raftLog.lastIndex()).toBe(before);
    expect(n.raft.term).toBe(2);
    expect(n.drain()).toEqual([]);
  });

  it("servers start as followers", () => {
    const n = newNode(1n, P3);
    expect(n.raft.state).toBe(StateType.Follower);
    expect(n.raft.lead).toBe(None);
  });
});

describe("§5.2: leader election", () => {
  it("a leader sends heartbeats to every follower each heartbeat interval", () => {
    const n = newNode(1n, P3);
    n.raft.becomeCandidate();
    n.raft.becomeLeader();
    n.drain();
    n.rn.tick(); // heartbeatTick = 1
    const hb = sortMsgs(n.drain()).filter((m) => m.type === MessageType.MsgHeartbeat);
    expect(hb.map((m) => [m.to, m.term, m.commit])).toEqual([
      [2n, 1, 0],
      [3n, 1, 0],
    ]);
  });

  it.each([
    ["follower", false],
    ["candidate", true],
  ])("a %s starts an election after an election timeout", (_name, candidate) => {
    const n = newNode(1n, P3);
    if (candidate) {
      n.raft.becomeCandidate();
      n.drain();
    }
    const term0 = n.raft.term;
    for (let i = 0; i < 2 * n.raft.electionTimeout; i++) n.rn.tick();
    expect(n.raft.term).toBe(term0 + 1);
    expect(n.raft.state).toBe(StateType.Candidate);
    expect(n.raft.vote).toBe(1n); // votes for itself
    const votes = sortMsgs(n.drain());
    expect(votes.map((m) => [m.type, m.to, m.term])).toEqual([
      [MessageType.MsgVote, 2n, term0 + 1],
      [MessageType.MsgVote, 3n, term0 + 1],
    ]);
  });

  it.each([
    { size: 1, votes: {}, state: StateType.Leader },
    { size: 3, votes: { 2: true, 3: true }, state: StateType.Leader },
    { size: 3, votes: { 2: true }, state: StateType.Leader },
    { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, state: StateType.Leader },
    { size: 5, votes: { 2: true, 3: true, 4: true }, state: StateType.Leader },
    { size: 5, votes: { 2: true, 3: true }, state: StateType.Leader },
    // a majority of denials: back to follower
    { size: 3, votes: { 2: false, 3: false }, state: StateType.Follower },
    { size: 5, votes: { 2: false, 3: false, 4: false, 5: false }, state: StateType.Follower },
    { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, state: StateType.Follower },
    // no majority either way: stay candidate (split vote)
    { size: 3, votes: {}, state: StateType.Candidate },
    { size: 5, votes: { 2: true }, state: StateType.Candidate },
    { size: 5, votes: { 2: false, 3: false }, state: StateType.Candidate },
    { size: 5, votes: {}, state: StateType.Candidate },
  ])("election in one round: size $size votes $votes -> $state", ({ size, votes, state }) => {
    const n = newNode(1n, ids(size));
    n.rn.campaign();
    for (const [id, granted] of Object.entries(votes)) {
      n.rn.step(
        msg({
          type: MessageType.MsgVoteResp,
          from: BigInt(id),
          to: 1n,
          term: n.raft.term,
          reject: !granted,
        }),
      );
    }
    expect(n.raft.state).toBe(state);
    expect(n.raft.term).toBe(1);
  });

  it.each([
    { vote: None, from: 2n, reject: false },
    { vote: None, from: 3n, reject: false },
    { vote: 2n, from: 2n, reject: false },
    { vote: 3n, from: 3n, reject: false },
    { vote: 2n, from: 3n, reject: true },
    { vote: 3n, from: 2n, reject: true },
  ])(
    "a follower votes at most once per term (voted $vote, asked by $from)",
    ({ vote, from, reject }) => {
      const n = nodeWithLog(1n, P3, [], { term: 1, vote });
      n.rn.step(msg({ type: MessageType.MsgVote, from, to: 1n, term: 1 }));
      const out = n.drain();
      expect(out.map((m) => [m.type, m.to, m.term, m.reject])).toEqual([
        [MessageType.MsgVoteResp, from, 1, reject],
      ]);
    },
  );

  it.each([1, 2])(
    "a candidate receiving AppendEntries from a leader of term >= its own (%i) becomes follower",
    (term) => {
      const n = newNode(1n, P3);
      n.rn.campaign();
      expect(n.raft.state).toBe(StateType.Candidate);
      n.rn.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term }));
      expect(n.raft.state).toBe(StateType.Follower);
      expect(n.raft.term).toBe(term);
      expect(n.raft.lead).toBe(2n);
    },
  );

  it.each([
    ["follower", false],
    ["candidate", true],
  ])("a %s's election timeout is randomized in [et, 2et)", (_name, candidate) => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 400; seed++) {
      const s = storageWith(P3);
      const n = new TN(s, testConfig(1n, s, { random: mulberry32(seed) }));
      if (candidate) n.raft.becomeCandidate();
      const term0 = n.raft.term;
      let t = 0;
      while (n.raft.term === term0) {
        n.rn.tick();
        t++;
      }
      seen.add(t);
    }
    expect([...seen].sort((x, y) => x - y)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it("randomized timeouts rarely make several nodes time out on the same tick", () => {
    let conflicts = 0;
    const rounds = 500;
    for (let round = 0; round < rounds; round++) {
      const nodes = ids(5).map((id) => {
        const s = storageWith(ids(5));
        return new TN(s, testConfig(id, s, { random: mulberry32(round * 31 + Number(id)) }));
      });
      let timedOut = 0;
      while (timedOut === 0) {
        timedOut = 0;
        for (const n of nodes) {
          n.rn.tick();
          if (n.raft.state === StateType.Candidate) timedOut++;
        }
      }
      if (timedOut > 1) conflicts++;
    }
    expect(conflicts / rounds).toBeLessThanOrEqual(0.3);
  });

  it("a split vote is resolved by a later election (randomized timeouts)", () => {
    const nw = Network.of(5);
    // Make 1 and 2 campaign at once, each reaching only part of the cluster.
    nw.cutLink(1, 4);
    nw.cutLink(1, 5);
    nw.cutLink(2, 3);
    nw.cutLink(1, 2);
    nw.node(1).rn.campaign();
    nw.node(2).rn.campaign();
    nw.send();
    nw.recover();
    for (let i = 0; i < 50 && nw.leader() === undefined; i++) nw.tickAll();
    expect(nw.leader()).toBeDefined();
    const leaders = [...nw.nodes.values()].filter((n) => n.state === StateType.Leader);
    expect(leaders.length).toBe(1);
  });
});

describe("§5.3: log replication", () => {
  it("a leader appends a proposal to its log and sends AppendEntries to every follower", () => {
    const n = newNode(1n, P3);
    electAndCommitNoop(n);
    const li = n.raft.raftLog.lastIndex();
    n.rn.propose(b("some data"));
    const rd = n.rn.ready();
    expect(rd.entries.map((e) => [e.term, e.index, str(e.data)])).toEqual([
      [1, li + 1, "some data"],
    ]);
    const apps = sortMsgs(rd.messages);
    expect(
      apps.map((m) => [m.type, m.to, m.term, m.logTerm, m.index, m.commit, m.entries.length]),
    ).toEqual([
      [MessageType.MsgApp, 2n, 1, 1, li, li, 1],
      [MessageType.MsgApp, 3n, 1, 1, li, li, 1],
    ]);
  });

  it("a leader commits an entry replicated on a majority and hands it to the application", () => {
    const n = newNode(1n, P3);
    electAndCommitNoop(n);
    const li = n.raft.raftLog.lastIndex();
    n.rn.propose(b("some data"));
    for (const m of n.drain()) {
      if (m.type === MessageType.MsgApp) n.rn.step(acceptAndReply(m));
    }
    expect(n.raft.raftLog.committed).toBe(li + 1);
    const rd = n.rn.ready();
    expect(rd.committedEntries.map((e) => str(e.data))).toEqual(["some data"]);
    // The new commit index goes out to the followers.
    const commits = sortMsgs(rd.messages).filter((m) => m.type === MessageType.MsgApp);
    expect(commits.map((m) => [m.to, m.commit])).toEqual([
      [2n, li + 1],
      [3n, li + 1],
    ]);
  });

  it.each([
    { size: 1, acceptors: [], committed: true },
    { size: 3, acceptors: [], committed: false },
    { size: 3, acceptors: [2], committed: true },
    { size: 3, acceptors: [2, 3], committed: true },
    { size: 5, acceptors: [], committed: false },
    { size: 5, acceptors: [2], committed: false },
    { size: 5, acceptors: [2, 3], committed: true },
    { size: 5, acceptors: [2, 3, 4], committed: true },
    { size: 5, acceptors: [2, 3, 4, 5], committed: true },
  ])(
    "an entry commits once a majority has it: size $size acceptors $acceptors",
    ({ size, acceptors, committed }) => {
      const n = newNode(1n, ids(size));
      if (size === 1) {
        n.rn.campaign();
        n.drain();
      } else {
        electAndCommitNoop(n);
      }
      const li = n.raft.raftLog.lastIndex();
      n.rn.propose(b("x"));
      for (const m of n.drain()) {
        if (m.type === MessageType.MsgApp && acceptors.includes(Number(m.to)))
          n.rn.step(acceptAndReply(m));
      }
      n.drain();
      expect(n.raft.raftLog.committed > li).toBe(committed);
    },
  );

  it.each([{ prev: [] as number[] }, { prev: [2] }, { prev: [1, 2] }, { prev: [1] }])(
    "committing an entry commits the leader's preceding entries ($prev)",
    ({ prev }) => {
      const n = nodeWithLog(1n, P3, prev, { term: 2 });
      n.raft.becomeCandidate();
      n.raft.becomeLeader();
      n.rn.propose(b("some data"));
      const applied: string[] = [];
      for (const m of n.drain()) {
        if (m.type === MessageType.MsgApp) n.rn.step(acceptAndReply(m));
      }
      n.drain();
      for (const e of n.applied) applied.push(`${e.term}/${e.index}:${str(e.data)}`);
      const li = prev.length;
      expect(applied).toEqual([
        ...prev.map((t, i) => `${t}/${i + 1}:`),
        `3/${li + 1}:`,
        `3/${li + 2}:some data`,
      ]);
    },
  );

  it("a follower applies entries once it learns they are committed", () => {
    for (const { ents, commit } of [
      { ents: [ent(1, 1, "some data")], commit: 1 },
      { ents: [ent(1, 1, "some data"), ent(1, 2, "some data2")], commit: 2 },
      { ents: [ent(1, 1, "some data2"), ent(1, 2, "some data")], commit: 2 },
      { ents: [ent(1, 1, "some data"), ent(1, 2, "some data2")], commit: 1 },
    ]) {
      const n = newNode(1n, P3);
      n.raft.becomeFollower(1, 2n);
      n.rn.step(
        msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 1, entries: ents, commit }),
      );
      n.drain();
      expect(n.raft.raftLog.committed).toBe(commit);
      expect(n.applied.map((e) => str(e.data))).toEqual(
        ents.slice(0, commit).map((e) => str(e.data)),
      );
    }
  });

  it.each([
    // matches a committed entry
    { term: 0, index: 0, wIndex: 1, reject: false, hint: 0, hintTerm: 0 },
    { term: 1, index: 1, wIndex: 1, reject: false, hint: 0, hintTerm: 0 },
    // matches an uncommitted entry
    { term: 2, index: 2, wIndex: 2, reject: false, hint: 0, hintTerm: 0 },
    // the entry exists with another term
    { term: 1, index: 2, wIndex: 2, reject: true, hint: 1, hintTerm: 1 },
    // the entry does not exist
    { term: 3, index: 3, wIndex: 3, reject: true, hint: 2, hintTerm: 2 },
  ])(
    "a follower rejects AppendEntries whose previous entry it lacks (prev $term/$index)",
    ({ term, index, wIndex, reject, hint, hintTerm }) => {
      const n = nodeWithLog(1n, P3, [1, 2], { term: 2, commit: 1 });
      n.raft.becomeFollower(2, 2n);
      n.rn.step(
        msg({
          type: MessageType.MsgApp,
          from: 2n,
          to: 1n,
          term: 2,
          logTerm: term,
          index,
          commit: 1,
        }),
      );
      const out = n.drain();
      expect(out.map((m) => [m.type, m.index, m.reject, m.rejectHint, m.logTerm])).toEqual([
        [MessageType.MsgAppResp, wIndex, reject, hint, hintTerm],
      ]);
    },
  );

  it.each([
    { index: 2, term: 2, add: [ent(3, 3)], want: ["1/1", "2/2", "3/3"], unstable: ["3/3"] },
    {
      index: 1,
      term: 1,
      add: [ent(3, 2), ent(4, 3)],
      want: ["1/1", "3/2", "4/3"],
      unstable: ["3/2", "4/3"],
    },
    { index: 0, term: 0, add: [ent(1, 1)], want: ["1/1", "2/2"], unstable: [] },
    { index: 0, term: 0, add: [ent(3, 1)], want: ["3/1"], unstable: ["3/1"] },
  ])(
    "a follower deletes conflicting entries and appends new ones (prev $term/$index)",
    ({ index, term, add, want, unstable }) => {
      const n = nodeWithLog(1n, P3, [1, 2]);
      n.raft.becomeFollower(2, 2n);
      n.rn.step(
        msg({
          type: MessageType.MsgApp,
          from: 2n,
          to: 1n,
          term: 2,
          logTerm: term,
          index,
          entries: add,
        }),
      );
      expect(logTerms(n)).toEqual(want);
      expect(n.raft.raftLog.nextUnstableEnts().map((e) => `${e.term}/${e.index}`)).toEqual(
        unstable,
      );
    },
  );

  // Figure 7: the leader's log (term 8) and six possible follower logs (a)-(f).
  const fig7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  it.each([
    { name: "a", follower: [1, 1, 1, 4, 4, 5, 5, 6, 6] },
    { name: "b", follower: [1, 1, 1, 4] },
    { name: "c", follower: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6] },
    { name: "d", follower: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7] },
    { name: "e", follower: [1, 1, 1, 4, 4, 4, 4] },
    { name: "f", follower: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3] },
  ])("a leader brings follower ($name) of Figure 7 into agreement with its log", ({ follower }) => {
    const term = 8;
    const lead = nodeWithLog(1n, P3, fig7Leader, { term, commit: fig7Leader.length });
    const fol = nodeWithLog(2n, P3, follower, { term: term - 1 });
    // A third node grants its vote: the follower's log may be more up to date (d).
    const nw = new Network([lead, fol]);
    nw.node(1).rn.campaign();
    nw.send(msg({ type: MessageType.MsgVoteResp, from: 3n, to: 1n, term: term + 1 }));
    expect(lead.raft.state).toBe(StateType.Leader);
    nw.propose(1, "");
    expect(logTerms(fol)).toEqual(logTerms(lead));
    expect(fol.raft.raftLog.committed).toBe(lead.raft.raftLog.committed);
  });
});

describe("§5.4: safety", () => {
  it.each([
    { terms: [1], wterm: 2 },
    { terms: [1, 2], wterm: 3 },
  ])(
    "a vote request carries the candidate's last log index and term ($terms)",
    ({ terms, wterm }) => {
      const n = newNode(1n, P3);
      const ents = terms.map((t, i) => ent(t, i + 1));
      n.rn.step(
        msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: wterm - 1, entries: ents }),
      );
      n.drain();
      for (let i = 1; i < 2 * n.raft.electionTimeout; i++) n.rn.tick();
      const votes = sortMsgs(n.drain());
      expect(votes.map((m) => [m.type, m.to, m.term, m.index, m.logTerm])).toEqual([
        [MessageType.MsgVote, 2n, wterm, terms.length, terms[terms.length - 1]],
        [MessageType.MsgVote, 3n, wterm, terms.length, terms[terms.length - 1]],
      ]);
    },
  );

  it.each([
    // same last term: the longer log wins
    { terms: [1], logTerm: 1, index: 1, reject: false },
    { terms: [1], logTerm: 1, index: 2, reject: false },
    { terms: [1, 1], logTerm: 1, index: 1, reject: true },
    // the candidate's last term is higher
    { terms: [1], logTerm: 2, index: 1, reject: false },
    { terms: [1], logTerm: 2, index: 2, reject: false },
    { terms: [1, 1], logTerm: 2, index: 1, reject: false },
    // the voter's last term is higher
    { terms: [2], logTerm: 1, index: 1, reject: true },
    { terms: [2], logTerm: 1, index: 2, reject: true },
    { terms: [2, 2], logTerm: 1, index: 1, reject: true },
  ])(
    "a voter denies its vote to a candidate whose log is less up to date ($terms vs $logTerm/$index)",
    ({ terms, logTerm, index, reject }) => {
      const n = nodeWithLog(1n, ids(2), terms);
      n.rn.step(msg({ type: MessageType.MsgVote, from: 2n, to: 1n, term: 3, logTerm, index }));
      const out = n.drain();
      expect(out.map((m) => [m.type, m.reject])).toEqual([[MessageType.MsgVoteResp, reject]]);
    },
  );

  it.each([
    // entries of previous terms are not committed by counting replicas
    { ack: 1, committed: 0 },
    { ack: 2, committed: 0 },
    // an entry of the current term is
    { ack: 3, committed: 3 },
  ])(
    "a leader commits only entries of its current term by counting (ack $ack)",
    ({ ack, committed }) => {
      const n = nodeWithLog(1n, ids(2), [1, 2], { term: 2 });
      n.raft.becomeCandidate(); // term 3
      n.raft.becomeLeader(); // no-op at index 3
      n.drain(); // the leader persists its own log
      n.rn.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 3, index: ack }));
      n.drain();
      expect(n.raft.raftLog.committed).toBe(committed);
    },
  );

  it("Figure 8: a leader does not commit an old-term entry stored on a majority", () => {
    const P5 = ids(5);
    // (a)+(b): S1 led term 2 and replicated index 2 to S2 only; S5 led term 3 and wrote
    // its own index 2. Everyone committed index 1.
    const s1 = nodeWithLog(1n, P5, [1, 2], { term: 3, commit: 1 });
    const s2 = nodeWithLog(2n, P5, [1, 2], { term: 3, commit: 1 });
    const s3 = nodeWithLog(3n, P5, [1], { term: 3, commit: 1 });
    const s4 = nodeWithLog(4n, P5, [1], { term: 3, commit: 1 });
    const s5 = nodeWithLog(5n, P5, [1, 3], { term: 3, commit: 1 });
    const nw = new Network([s1, s2, s3, s4, s5]);
    // (c): S1 is elected in term 4 (S2, S3, S4 vote; S5's log is more up to date) and
    // replicates index 2 (term 2) to S3, but not yet its own term-4 no-op at index 3.
    nw.filter = (m) => {
      if (m.from !== 1n || m.type !== MessageType.MsgApp) return m;
      if (m.to === 4n || m.to === 5n) return undefined;
      return { ...m, entries: m.entries.filter((e) => e.index <= 2) };
    };
    nw.campaign(1);
    expect(s1.raft.state).toBe(StateType.Leader);
    expect(s1.raft.term).toBe(4);
    // Index 2 is now on S1, S2, S3: a majority. It must not be committed.
    expect([s1, s2, s3].map((n) => n.raft.raftLog.termOrNeg(2))).toEqual([2, 2, 2]);
    expect(s1.raft.trk.progress.get(3n)!.match).toBe(2);
    expect(s1.raft.raftLog.committed).toBe(1);
    // (d): S1 crashes; S5 is elected in term 5 (votes from S2, S3, S4) and overwrites
    // index 2 everywhere with its term-3 entry. Had S1 committed index 2, this would
    // have lost a committed entry.
    nw.filter = undefined;
    nw.isolate(1);
    nw.campaign(5);
    expect(s5.raft.state).toBe(StateType.Leader);
    expect([s2, s3, s4].map((n) => n.raft.raftLog.termOrNeg(2))).toEqual([3, 3, 3]);
    for (const n of [s1, s2, s3, s4, s5]) {
      expect(n.applied.some((e) => e.index === 2 && e.term === 2)).toBe(false);
    }
  });

  it("Figure 8 (e): once a current-term entry is on a majority, older entries commit with it", () => {
    const P5 = ids(5);
    const s1 = nodeWithLog(1n, P5, [1, 2], { term: 3, commit: 1 });
    const s2 = nodeWithLog(2n, P5, [1, 2], { term: 3, commit: 1 });
    const s3 = nodeWithLog(3n, P5, [1], { term: 3, commit: 1 });
    const s4 = nodeWithLog(4n, P5, [1], { term: 3, commit: 1 });
    const s5 = nodeWithLog(5n, P5, [1, 3], { term: 3, commit: 1 });
    const nw = new Network([s1, s2, s3, s4, s5]);
    nw.isolate(5);
    nw.campaign(1);
    expect(s1.raft.raftLog.committed).toBe(3);
    // S5 can no longer win: a majority has a more up-to-date log.
    nw.recover();
    nw.isolate(1);
    nw.campaign(5);
    expect(s5.raft.state).not.toBe(StateType.Leader);
    expect(s2.applied.map((e) => `${e.term}/${e.index}`)).toEqual(["1/1", "2/2", "4/3"]);
  });
});
