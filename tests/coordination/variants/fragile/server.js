// Answers `fine`, and breaks as asked: /boom answers 500 every other time, /exit exits with 4, /close
// stops listening but runs on.
const http = require('http');

let booms = 0;
const server = http
	.createServer((request, response) => {
		if (request.url === '/boom' && booms++ % 2 === 0) {
			console.error('boom: the database is down');
			response.statusCode = 500;
			return response.end('broken');
		}
		if (request.url === '/exit') {
			console.log('exiting on purpose');
			return response.end('bye', () => process.exit(4));
		}
		if (request.url === '/close') {
			setInterval(() => {}, 1000);
			return response.end('closing', () => {
				server.close();
				server.closeAllConnections();
			});
		}
		response.end('fine');
	})
	.listen(process.env.PORT, '0.0.0.0');
