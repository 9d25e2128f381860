// The official Node SDK's Responses stream against airlock: node responses.mjs BASE_URL
// ResponseStream checks every event's order and identity and throws on any departure; this
// streams a text reply, then a function call, then the call's answer chained by
// previous_response_id, then a background response, streamed live and then resumed by id
// after its fourth event (the SDK replays from the start and skips what came before), and
// prints one JSON line of what the SDK saw.
import OpenAI from "openai";

const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "x", maxRetries: 0 });
const deltas = [];
const events = [];
const stream = client.responses.stream({ model: "gpt-4o-mini", input: "Say hello." });
stream.on("response.output_text.delta", (e) => deltas.push(e.delta));
stream.on("event", (e) => events.push(e.type));
const text = await stream.finalResponse();
const tools = [{ type: "function", name: "get_weather", strict: true, parameters: {
  type: "object", properties: { city: { type: "string" } }, required: ["city"],
  additionalProperties: false } }];
const called = await client.responses.stream({
  model: "gpt-4o-mini", tools, input: "Weather in Oslo?",
}).finalResponse();
const call = called.output.find((item) => item.type === "function_call");
const answered = await client.responses.stream({
  model: "gpt-4o-mini", tools, previous_response_id: called.id,
  input: [{ type: "function_call_output", call_id: call.call_id, output: "Sunny, 21 C" }],
}).finalResponse();
const background = client.responses.stream({
  model: "gpt-4o-mini", input: "Work on it.", background: true });
const backgroundEvents = [];
background.on("event", (e) => backgroundEvents.push(e.type));
const queued = await background.finalResponse();
const resumedEvents = [];
const resumed = client.responses.stream({ response_id: queued.id, starting_after: 3 });
resumed.on("event", (e) => resumedEvents.push(e.sequence_number));
const resumedFinal = await resumed.finalResponse();
console.log(JSON.stringify({
  background: { events: backgroundEvents, text: queued.output_text, resumed: resumedEvents,
    resumedText: resumedFinal.output_text, status: resumedFinal.status },
  deltas, events, text: text.output_text, status: text.status, usage: text.usage,
  call: { name: call.name, arguments: call.arguments, status: called.status },
  answer: answered.output_text,
}));
