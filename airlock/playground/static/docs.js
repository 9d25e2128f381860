// The interactive API docs (Swagger UI from the swagger-ui-bundle-v2 package, served by airlock).
// "Try it out" sends the API key this tab holds, like the Playground.
/* global SwaggerUIBundle */
(function () {
  const KEY = "airlock.apiKey";
  const note = document.getElementById("docs-key-note");
  const input = document.createElement("input");
  input.type = "password";
  input.placeholder = "API key (only with --api-key)";
  input.autocomplete = "off";
  input.id = "docs-key";
  input.value = sessionStorage.getItem(KEY) || "";
  input.addEventListener("change", () => {
    if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
    else sessionStorage.removeItem(KEY);
  });
  const label = document.createElement("label");
  label.htmlFor = "docs-key";
  label.textContent = "Key for “Try it out”: ";
  note.append(label, input);

  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the online validator badge would call another host
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: (req) => {
      const key = sessionStorage.getItem(KEY);
      if (key && !req.headers.Authorization) req.headers.Authorization = `Bearer ${key}`;
      return req;
    },
  });
})();
