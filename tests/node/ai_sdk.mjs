// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) against airlock: node ai_sdk.mjs BASE_URL STEP
// `openai(model)` is the SDK's Responses model, so every step below goes through POST
// /v1/responses. Steps: generate (generateText), stream (streamText, text joined), stream_tool
// (streamText with a tool it executes, then the streamed answer), tool
// (generateText with a tool the SDK executes and a second step sending its output back, then a
// follow-up turn with the whole history: with store on by default, the SDK sends the earlier
// assistant text as an item_reference for airlock to resolve), tool_stateless (the same with
// store false, so the SDK sends every item in full). Prints one JSON line.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const [baseURL, step] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey: "x" });
const model = openai("gpt-4o-mini");

async function withTool(providerOptions) {
  const executed = [];
  const tools = {
    get_weather: tool({
      description: "The weather in a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async (input) => {
        executed.push(input);
        return { city: input.city, weather: "Sunny, 21 C" };
      },
    }),
  };
  const options = { model, tools, maxRetries: 0, ...(providerOptions ? { providerOptions } : {}) };
  const prompt = { role: "user", content: "What is the weather in Oslo?" };
  const first = await generateText({ ...options, messages: [prompt], stopWhen: stepCountIs(2) });
  // A follow-up turn as a chat app sends it: the whole history, whose assistant text now
  // carries its response item's id (so with store on, the SDK sends it as an item_reference).
  const followUp = { role: "user", content: "And tomorrow?" };
  const second = await generateText({
    ...options, messages: [prompt, ...first.response.messages, followUp] });
  return {
    executed,
    text: first.text,
    steps: first.steps.map((s) => ({
      finishReason: s.finishReason,
      toolCalls: s.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input })),
      toolResults: s.toolResults.map((r) => ({ toolName: r.toolName, output: r.output })),
      responseId: s.response?.id,
      // What the SDK sent: the second step carries the call and its output back.
      input: s.request?.body?.input,
    })),
    followUp: { text: second.text, responseId: second.response.id,
      input: second.request?.body?.input },
  };
}

let out;
if (step === "generate") {
  const r = await generateText({ model, prompt: "Say hello.", maxRetries: 0 });
  out = { text: r.text, finishReason: r.finishReason, usage: r.usage, responseId: r.response.id };
} else if (step === "stream") {
  const r = streamText({ model, prompt: "Say hello.", maxRetries: 0,
    onError: ({ error }) => { throw error; } });
  const deltas = [];
  for await (const delta of r.textStream) deltas.push(delta);
  out = { deltas, text: await r.text, finishReason: await r.finishReason, usage: await r.usage };
} else if (step === "stream_tool") {
  // streamText with the tool: the call streams in, the SDK runs it and streams the answer.
  const executed = [];
  const r = streamText({
    model, prompt: "What is the weather in Oslo?", maxRetries: 0, stopWhen: stepCountIs(2),
    onError: ({ error }) => { throw error; },
    tools: { get_weather: tool({
      description: "The weather in a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async (input) => {
        executed.push(input);
        return { city: input.city, weather: "Sunny, 21 C" };
      },
    }) },
  });
  const parts = [];
  for await (const part of r.fullStream) parts.push(part.type);
  out = { executed, parts, text: await r.text, steps: (await r.steps).map((s) => s.finishReason) };
} else if (step === "tool") {
  out = await withTool();
} else if (step === "tool_stateless") {
  out = await withTool({ openai: { store: false } });
} else {
  throw new Error(`unknown step ${step}`);
}
console.log(JSON.stringify(out));
