/**
 * The floor under `messages()`: what `for await` costs per message with nothing else in the way,
 * a bare async iterator whose `next()` returns an already-resolved promise. Client CPU per
 * message (user + system), five rounds of 2M messages: `node bench/iterator-floor.mjs`.
 */

const N = 2_000_000;
const iterator = {
  i: 0,
  next() {
    return Promise.resolve(this.i++ < N ? { value: "x", done: false } : { value: undefined, done: true });
  },
  [Symbol.asyncIterator]() {
    return this;
  },
};

for (let round = 0; round < 5; round++) {
  iterator.i = 0;
  const cpu0 = process.cpuUsage();
  let got = 0;
  for await (const _msg of iterator) got++;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `for await, ${got} messages: ${(((cpu.user + cpu.system) * 1000) / N).toFixed(1)} ns of CPU per message`,
  );
}
