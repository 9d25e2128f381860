// The official Node SDK's chat completions against airlock: node chat.mjs BASE_URL
// Streams through the SDK's ChatCompletionStream (with a function tool), then prints one JSON
// line: the text deltas it emitted, its final completion, and a plain create's reply.
import OpenAI from "openai";

const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "x", maxRetries: 0 });
const deltas = [];
const stream = client.chat.completions.stream({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Say hello." }],
  stream_options: { include_usage: true },
});
stream.on("content.delta", (e) => deltas.push(e.delta));
const final = await stream.finalChatCompletion();
const tools = [{ type: "function", function: { name: "get_weather", parameters: {
  type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const called = await client.chat.completions.stream({
  model: "gpt-4o-mini", tools, messages: [{ role: "user", content: "Weather in Oslo?" }],
}).finalChatCompletion();
console.log(JSON.stringify({
  deltas,
  text: final.choices[0].message.content,
  usage: final.usage,
  calls: called.choices[0].message.tool_calls,
  finish: called.choices[0].finish_reason,
}));
