// The official Node SDK's Responses stream with built-in tools: node responses_tools.mjs
// BASE_URL TOOLS_JSON. ResponseStream checks that file_search_call.* and code_interpreter_call.*
// events land on an item of that type and that every item is closed; prints one JSON line of
// what it saw.
import OpenAI from "openai";

const [baseURL, tools] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "x", maxRetries: 0 });
const annotations = [];
const stream = client.responses.stream({
  model: "gpt-4o-mini", input: "Who invented the Zorblax engine?", tools: JSON.parse(tools) });
stream.on("response.output_text.annotation.added", (e) => annotations.push(e.annotation.filename));
const final = await stream.finalResponse();
console.log(JSON.stringify({
  items: final.output.map((item) => item.type), annotations, text: final.output_text }));
