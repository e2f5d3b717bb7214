// Answers `fine`, and breaks as asked: /boom answers 500 every other time, /exit exits with 4, /close
// stops listening but runs on, /leave stops listening and exits with 5 four seconds later.
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
		if (request.url === '/leave') {
			console.log('leaving in 4 s');
			setTimeout(() => process.exit(5), 4_000);
			return response.end('leaving', () => {
				server.close();
				server.closeAllConnections();
			});
		}
		response.end('fine');
	})
	.listen(process.env.PORT, '0.0.0.0');
