use flytekit::{dynamic, task, workflow};

#[task]
async fn fetch(url: String) -> String {
    url
}

#[workflow]
async fn crawl(url: String) -> String {
    fetch(url)
}

#[dynamic]
async fn crawl_all(urls: Vec<String>) -> Vec<String> {
    urls.into_iter().map(|u| fetch(u)).collect()
}

fn main() {}
