"""The Playground's static assets (HTML, CSS and ES modules), served by airlock.server.playground.

Plain files, no build step: the page is index.html plus static/*.js modules and static/app.css.
Nothing here is loaded from the network; the API docs use Swagger UI from the
swagger-ui-bundle-v2 package.
"""
