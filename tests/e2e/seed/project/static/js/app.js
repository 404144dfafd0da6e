console.log("cmdb");
