// Runs one streamed run through the official Node SDK's AssistantStream and prints what it saw
// as JSON, for pytest to check. Usage: node stream.mjs BASE_URL ASSISTANT_ID (THREAD_ID | new)
import OpenAI from "openai";

const [baseURL, assistantId, threadId] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "x", maxRetries: 0 });

const events = [];
let text = "";
const stream = threadId === "new"
  ? client.beta.threads.createAndRunStream({
      assistant_id: assistantId,
      thread: { messages: [{ role: "user", content: "hello from node" }] },
    })
  : client.beta.threads.runs.stream(threadId, { assistant_id: assistantId });

const calls = {};
const created = [];
stream
  .on("event", (e) => events.push(e.event))
  .on("textDelta", (delta) => { text += delta.value; })
  .on("toolCallCreated", (call) => { created.push(call.type); })
  .on("toolCallDelta", (delta, snapshot) => {
    calls[snapshot.id] = { name: snapshot.function?.name, arguments: snapshot.function?.arguments };
  });

try {
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  console.log(JSON.stringify({
    ok: true,
    events,
    text,
    run: { id: run.id, status: run.status, thread_id: run.thread_id, usage: run.usage },
    messages: messages.map((m) => ({
      id: m.id, status: m.status, text: m.content[0]?.text?.value,
      annotations: m.content[0]?.text?.annotations,
    })),
    calls,
    created,
  }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, events, error: String(err && err.message || err) }));
}
