import { describe, expect, it } from "vitest";
import { Emitter } from "../src/emitter.js";

type Events = { ping: (n: number) => unknown };

describe("Emitter", () => {
  it("on() returns an unsubscribe function", () => {
    const e = new Emitter<Events>(() => {});
    const seen: number[] = [];
    const off = e.on("ping", (n) => seen.push(n));
    e.emit("ping", 1);
    off();
    e.emit("ping", 2);
    expect(seen).toEqual([1]);
  });

  it("dispatches on a snapshot: listeners added or removed during dispatch do not change it", () => {
    const e = new Emitter<Events>(() => {});
    const seen: string[] = [];
    let offB: () => void = () => {};
    e.on("ping", () => {
      seen.push("a");
      offB();
      e.on("ping", () => seen.push("late"));
    });
    offB = e.on("ping", () => seen.push("b"));
    e.emit("ping", 0);
    expect(seen).toEqual(["a", "b"]);
  });

  it("a throwing listener does not stop the others and is reported", () => {
    const thrown: unknown[] = [];
    const e = new Emitter<Events>((err) => thrown.push(err));
    const seen: number[] = [];
    e.on("ping", () => {
      throw new Error("boom");
    });
    e.on("ping", (n) => seen.push(n));
    e.emit("ping", 5);
    expect(seen).toEqual([5]);
    expect(thrown).toHaveLength(1);
  });

  it("collects return values", () => {
    const e = new Emitter<Events>(() => {});
    e.on("ping", (n) => n * 2);
    expect(e.emitCollect("ping", 21)).toEqual([42]);
  });
});

describe("Emitter registrations", () => {
  it("keeps order and removes exactly one registration, from one listener to three and back", () => {
    const e = new Emitter<Events>(() => {});
    const seen: string[] = [];
    const a = () => seen.push("a");
    const offA = e.on("ping", a);
    const offB = e.on("ping", () => seen.push("b"));
    const offA2 = e.on("ping", a);
    e.emit("ping", 0);
    expect(seen).toEqual(["a", "b", "a"]);
    offA();
    offA(); // a second call removes nothing more
    seen.length = 0;
    e.emit("ping", 0);
    expect(seen).toEqual(["b", "a"]);
    offB();
    seen.length = 0;
    e.emit("ping", 0);
    expect(seen).toEqual(["a"]);
    expect(e.has("ping")).toBe(true);
    offA2();
    expect(e.has("ping")).toBe(false);
    seen.length = 0;
    e.emit("ping", 0);
    expect(seen).toEqual([]);
    expect(e.emitCollect("ping", 0)).toEqual([]);
  });

  it("passes the owner to onThrow", () => {
    const owner = { name: "conn" };
    const got: unknown[] = [];
    const e = new Emitter<Events, typeof owner>((error, event, o) => got.push(error, event, o), owner);
    const boom = new Error("boom");
    e.on("ping", () => {
      throw boom;
    });
    expect(e.emitCollect("ping", 1)).toEqual([undefined]);
    expect(got).toEqual([boom, "ping", owner]);
  });

  describe("finish, then announce", () => {
    it("what a step emits or defers is delivered once the step returns, in order", () => {
      const e = new Emitter<Events>(() => {});
      const log: string[] = [];
      e.on("ping", (n) => log.push(`ping ${n}`));
      e.run(undefined, () => {
        e.emit("ping", 1);
        e.defer(() => log.push("deferred"));
        e.emit("ping", 2);
        log.push("step done");
      });
      expect(log).toEqual(["step done", "ping 1", "deferred", "ping 2"]);
    });

    it("a listener's own step runs at once, but what it announces waits behind what was already waiting", () => {
      const e = new Emitter<Events>(() => {});
      const log: string[] = [];
      e.on("ping", (n) => {
        log.push(`ping ${n}`);
        if (n === 1)
          e.run(undefined, () => {
            log.push("nested step");
            e.emit("ping", 3);
          });
      });
      e.run(undefined, () => {
        e.emit("ping", 1);
        e.emit("ping", 2);
      });
      expect(log).toEqual(["ping 1", "nested step", "ping 2", "ping 3"]);
    });

    it("nested steps deliver only when the outermost returns; outside a step, emit and defer run at once", () => {
      const e = new Emitter<Events>(() => {});
      const log: string[] = [];
      e.on("ping", (n) => log.push(`ping ${n}`));
      e.run(undefined, () => {
        e.run(undefined, () => e.emit("ping", 1));
        log.push("inner returned");
      });
      e.emit("ping", 2);
      e.defer(() => log.push("deferred now"));
      expect(log).toEqual(["inner returned", "ping 1", "ping 2", "deferred now"]);
    });

    it("a deferred callback's emit is delivered in its turn, so the next deferred callback sees what its listeners did", () => {
      const e = new Emitter<Events>(() => {});
      const log: string[] = [];
      let closed = false;
      e.on("ping", (n) => {
        log.push(`ping ${n}`);
        if (n === 1)
          e.run(undefined, () => {
            closed = true;
          });
      });
      e.run(undefined, () => {
        e.defer(() => e.emit("ping", 1));
        e.defer(() => {
          if (!closed) e.emit("ping", 2); // still true? (the reconnecting event after an onError that closed)
        });
      });
      expect(log).toEqual(["ping 1"]);
    });

    it("a throwing step still releases the queue for the next one", () => {
      const e = new Emitter<Events>(() => {});
      const log: string[] = [];
      e.on("ping", (n) => log.push(`ping ${n}`));
      expect(() =>
        e.run(undefined, () => {
          e.emit("ping", 1);
          throw new Error("bug");
        }),
      ).toThrow("bug");
      e.emit("ping", 2);
      expect(log).toEqual(["ping 1", "ping 2"]);
    });
  });
});
